"""Host capability checks: one function a check, each returning a DoctorCheck."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from banger.api.models import DoctorCheck
from banger.disks.clone import reflink_supported
from banger.doctor.kvm import KvmVerdict
from banger.errors import BangerError
from banger.proc import DEBIAN_PACKAGE, run, which

_PROBE_TABLE = """table ip banger_probe {
    chain c {
        type nat hook postrouting priority 100;
    }
}
"""
REQUIRED_TOOLS = (
    "mke2fs",
    "debugfs",
    "e2fsck",
    "resize2fs",
    "busybox",
    "ssh",
    "ssh-keygen",
    "ip",
    "nft",
)


def _check(name: str, ok: bool, detail: str, hint: str | None, *, required: bool) -> DoctorCheck:
    status = "pass" if ok else ("fail" if required else "warn")
    return DoctorCheck(
        name=name, status=status, required=required, detail=detail, hint=None if ok else hint
    )


def _find(tool: str) -> str | None:
    try:
        return which(tool)
    except BangerError:
        return None


def check_kvm(verdict: KvmVerdict) -> list[DoctorCheck]:
    device = _check(
        "kvm device",
        verdict.present,
        "/dev/kvm " + ("exists" if verdict.present else "is missing"),
        "load kvm_intel/kvm_amd or enable virtualization",
        required=False,
    )
    usable = _check(
        "kvm usable",
        verdict.usable is True,
        verdict.detail,
        "QEMU TCG (software emulation) is used instead: slower, but it works"
        if verdict.usable is False
        else "until then QEMU TCG (software emulation) is used",
        required=False,
    )
    return [device, usable.model_copy(update={"evidence": verdict.evidence})]


def check_firecracker(configured: Path | None) -> DoctorCheck:
    path = str(configured) if configured else _find("firecracker")
    if path is None or not os.access(path, os.X_OK):
        return _check(
            "firecracker",
            False,
            "firecracker binary not found",
            "install Firecracker from its official releases "
            "(https://github.com/firecracker-microvm/firecracker/releases) and put it on PATH "
            "or set firecracker_bin; the QEMU backend is used meanwhile",
            required=False,
        )
    out = run([path, "--version"], check=False, timeout=10)
    version = (out.stdout or out.stderr).strip().splitlines()[:1]
    return _check(
        "firecracker",
        out.returncode == 0,
        f"{path}: {' '.join(version)}",
        "the binary does not run; reinstall it",
        required=False,
    )


def check_qemu(qemu_bin: str) -> list[DoctorCheck]:
    path = _find(qemu_bin)
    if path is None:
        hint = "apt-get install qemu-system-x86"
        return [
            _check("qemu", False, f"{qemu_bin} not found", hint, required=True),
            _check("tcg", False, "no QEMU to check", hint, required=True),
        ]
    version = run([path, "--version"], check=False, timeout=10).stdout.splitlines()[:1]
    accels = run([path, "-accel", "help"], check=False, timeout=10).stdout.splitlines()[1:]
    return [
        _check("qemu", True, f"{path}: {' '.join(version)}", None, required=True),
        _check(
            "tcg",
            "tcg" in accels,
            "accelerators: " + ", ".join(accels),
            "install a QEMU build with TCG",
            required=True,
        ),
    ]


def check_tun() -> DoctorCheck:
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        os.close(fd)
        ok, detail = True, "/dev/net/tun opens"
    except OSError as exc:
        ok, detail = False, f"/dev/net/tun: {exc.strerror}"
    return _check("tun", ok, detail, "modprobe tun, or run the daemon as root", required=True)


def check_bridge_and_nft() -> list[DoctorCheck]:
    """Create a bridge and an nft table for real, inside a throwaway network namespace."""
    if os.geteuid() != 0:
        note = "needs root to probe; `banger doctor` asks the daemon for this check"
        return [
            _check("bridge", False, note, "run as root or start bangerd", required=False),
            _check("nftables", False, note, "run as root or start bangerd", required=False),
        ]
    ns = f"banger-doctor-{secrets.token_hex(3)}"
    try:
        run(["ip", "netns", "add", ns], timeout=10)
    except BangerError as exc:
        return [
            _check("bridge", False, exc.message, "run as root with iproute2", required=True),
            _check("nftables", False, "not probed", None, required=True),
        ]
    try:
        br = run(["ip", "-n", ns, "link", "add", "probe0", "type", "bridge"], check=False)
        nft = run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"],
            check=False,
            input=_PROBE_TABLE,
        )
    finally:
        run(["ip", "netns", "delete", ns], check=False, timeout=10)
    return [
        _check(
            "bridge",
            br.returncode == 0,
            br.stderr.strip() or "bridge created in a netns",
            "enable bridge support in the host kernel",
            required=True,
        ),
        _check(
            "nftables",
            nft.returncode == 0,
            nft.stderr.strip() or "nat table loads",
            "apt-get install nftables; needs nf_tables in the host kernel",
            required=True,
        ),
    ]


def check_loop() -> DoctorCheck:
    ok = Path("/dev/loop-control").exists()
    return _check(
        "loop devices",
        ok,
        "/dev/loop-control " + ("exists" if ok else "missing"),
        "modprobe loop",
        required=False,
    )


def check_device_mapper() -> DoctorCheck:
    if not Path("/dev/mapper/control").exists() or _find("dmsetup") is None:
        return _check(
            "device-mapper",
            False,
            "no /dev/mapper/control or dmsetup",
            "optional: VM disks use reflink or a sparse copy instead",
            required=False,
        )
    out = run(["dmsetup", "targets"], check=False, timeout=10)
    ok = out.returncode == 0 and "snapshot" in out.stdout
    return _check(
        "device-mapper",
        ok,
        (out.stdout or out.stderr).strip().replace("\n", ", "),
        "optional: modprobe dm_snapshot",
        required=False,
    )


def check_reflink(state_dir: Path) -> DoctorCheck:
    probe_dir = state_dir if state_dir.is_dir() else Path(tempfile.gettempdir())
    try:
        ok = reflink_supported(probe_dir)
        detail = f"{probe_dir} " + (
            "supports reflink clones" if ok else "has no reflink; sparse copies are used"
        )
    except (BangerError, OSError) as exc:
        ok, detail = False, f"{probe_dir}: cannot probe reflink ({exc})"
    return _check(
        "reflink", ok, detail, "optional: put state_dir on btrfs or xfs (reflink=1)", required=False
    )


def check_tools() -> list[DoctorCheck]:
    checks = []
    for tool in REQUIRED_TOOLS:
        path = _find(tool)
        hint = f"apt-get install {DEBIAN_PACKAGE.get(tool, tool)}"
        checks.append(_check(tool, path is not None, path or "not found", hint, required=True))
    return checks


def check_disk(state_dir: Path) -> DoctorCheck:
    probe = state_dir
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    gib = free / 2**30
    status_ok = gib >= 5
    check = _check(
        "disk space",
        status_ok,
        f"{gib:.1f} GiB free at {probe}",
        "free some space: images and VM disks need several GiB",
        required=False,
    )
    if gib < 1:
        check = check.model_copy(update={"status": "fail", "required": True})
    return check


def host_checks(
    qemu_bin: str, firecracker_bin: Path | None, state_dir: Path, kvm: Callable[[], KvmVerdict]
) -> list[DoctorCheck]:
    """Every check; `kvm` gives the KVM verdict (the daemon's, which boots its kernel)."""
    probes: list[tuple[str, Callable[[], DoctorCheck | list[DoctorCheck]]]] = [
        ("kvm usable", lambda: check_kvm(kvm())),
        ("firecracker", lambda: check_firecracker(firecracker_bin)),
        ("qemu", lambda: check_qemu(qemu_bin)),
        ("tun", check_tun),
        ("bridge", check_bridge_and_nft),
        ("loop devices", check_loop),
        ("device-mapper", check_device_mapper),
        ("reflink", lambda: check_reflink(state_dir)),
        ("tools", check_tools),
        ("disk space", lambda: check_disk(state_dir)),
    ]
    results: list[DoctorCheck] = []
    for name, probe in probes:
        try:
            found = probe()
        except (BangerError, OSError, subprocess.SubprocessError) as exc:
            # A probe that breaks is a finding, not something to hide from the report.
            found = _check(name, False, f"the check itself failed: {exc}", None, required=False)
        results.extend(found if isinstance(found, list) else [found])
    return results
