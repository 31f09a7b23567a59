"""Is KVM usable for a *standard* guest? Decided by booting a real Linux kernel to userspace.

Nothing short of that is proof. On hosts whose KVM is PVM (/sys/module/kvm_pvm),
/dev/kvm opens and KVM_CREATE_VM works, yet a standard guest either aborts at once
("failed to set MSR"), dies in emulation, or — with newer host kernels — hangs silently at
100 % CPU while QEMU's firmware idles happily. So the probe boots the kernel banger would
really boot, with a tiny initrd whose /init prints a one-off marker on the serial console
and powers off. Seeing the marker within a few seconds means usable: a working KVM gets
there in well under a second; anything else (an abort, an exit, silence) means not.
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from banger import proc
from banger.errors import BangerError, CommandFailed
from banger.kernels import cpio
from banger.kernels.initrd import DEFAULT_BUSYBOX, check_static_busybox
from banger.vmm.qemu.argv import read_host_tsc_khz

KVM_DEVICE = Path("/dev/kvm")
PVM_MODULE = Path("/sys/module/kvm_pvm")
MARKER_PREFIX = "BANGER-KVM-PROBE-"
DEFAULT_DEADLINE = 8.0
_PROBE_MEMORY_MIB = 256


@dataclass(frozen=True)
class KvmVerdict:
    present: bool
    usable: bool | None  # None: not verified yet (no kernel, no QEMU, no daemon)
    detail: str
    evidence: str | None = None  # the marker line seen, or the last line QEMU printed

    @classmethod
    def unverified(cls, why: str, present: bool | None = None) -> KvmVerdict:
        exists = KVM_DEVICE.exists() if present is None else present
        return cls(exists, None, f"unverified: {why}")


def probe_initrd(marker: str, busybox: Path = DEFAULT_BUSYBOX) -> bytes:
    """A gzip'd newc initrd whose /init prints `marker` and powers the guest off."""
    init = (
        "#!/bin/busybox sh\n"
        f"/bin/busybox echo {marker}\n"
        "/bin/busybox poweroff -f\n"
        # poweroff only fails without ACPI; -no-reboot turns a reboot into an exit too.
        "/bin/busybox reboot -f\n"
    )
    entries = [
        cpio.directory("bin"),
        cpio.directory("dev"),
        cpio.char_device("dev/console", 5, 1),
        cpio.regular("bin/busybox", check_static_busybox(busybox), 0o755),
        cpio.regular("init", init.encode(), 0o755),
    ]
    buffer = io.BytesIO()
    cpio.write_newc(buffer, entries)
    return gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0)


def probe_argv(
    qemu_bin: str, kernel: Path, initrd: Path, accel: str, tsc_khz: int | None
) -> list[str]:
    """QEMU in the foreground, the serial console on stdout, no devices but the console."""
    cmdline = "console=ttyS0 reboot=k panic=-1 rdinit=/init"
    if accel == "tcg" and tsc_khz:
        cmdline += f" tsc_early_khz={tsc_khz}"  # else ~1 TCG boot in 8 hangs on the PIT
    return [
        qemu_bin,
        *("-machine", "microvm,acpi=on", "-accel", accel),
        *("-cpu", "host" if accel == "kvm" else "max", "-smp", "1"),
        *("-m", f"{_PROBE_MEMORY_MIB}M", "-nodefaults", "-no-user-config"),
        *("-display", "none", "-no-reboot", "-serial", "stdio"),
        *("-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline),
    ]


def device_verdict(device: Path) -> KvmVerdict | None:
    if not device.exists():
        return KvmVerdict(False, False, f"{device} does not exist")
    if not os.access(device, os.R_OK | os.W_OK):
        return KvmVerdict(True, False, f"{device} exists but is not read/writable by this user")
    return None


def probe_kvm(
    qemu_bin: str | None,
    kernel: Path | None,
    *,
    workdir: Path | None = None,
    accel: str = "kvm",
    device: Path = KVM_DEVICE,
    deadline: float = DEFAULT_DEADLINE,
    busybox: Path = DEFAULT_BUSYBOX,
) -> KvmVerdict:
    """Boot `kernel` under `accel` (tests pass "tcg" to prove the positive path)."""
    if accel == "kvm" and (verdict := device_verdict(device)) is not None:
        return verdict
    if qemu_bin is None:
        return KvmVerdict.unverified("no QEMU to boot a guest with", present=True)
    if kernel is None:
        return KvmVerdict.unverified(
            "no kernel yet; checked again once one exists (banger kernel fetch)", present=True
        )
    with tempfile.TemporaryDirectory(prefix="kvm-probe-", dir=workdir) as tmp:
        marker = MARKER_PREFIX + secrets.token_hex(4)
        initrd = Path(tmp) / "probe.img"
        try:
            initrd.write_bytes(probe_initrd(marker, busybox))
        except BangerError as exc:
            return KvmVerdict.unverified(exc.message, present=True)
        tsc = read_host_tsc_khz() if accel == "tcg" else None
        return _boot(probe_argv(qemu_bin, kernel, initrd, accel, tsc), marker, accel, deadline)


def _boot(argv: list[str], marker: str, accel: str, deadline: float) -> KvmVerdict:
    lines: deque[str] = deque(maxlen=5)
    seen: list[str] = []
    started = time.monotonic()

    def on_line(line: str) -> None:
        clean = line.strip("\r\x00 ")
        if clean:
            lines.append(clean[:300])
        if marker in line:
            seen.append(clean)

    why = ""
    try:
        proc.stream(argv, on_line, timeout=deadline, until=lambda line: marker in line)
    except CommandFailed as exc:
        code = exc.returncode
        how = f"died of signal {-code}" if code < 0 else f"exited with code {code}"
        why = f"QEMU {how} before the kernel reached userspace"
    except BangerError:
        why = f"the kernel did not reach userspace within {deadline:g} s"
    seconds = time.monotonic() - started
    name = "KVM" if accel == "kvm" else accel.upper()
    if seen:
        return KvmVerdict(
            True, True, f"a Linux kernel reached userspace under {name} in {seconds:.1f} s", seen[0]
        )
    why = why or "QEMU exited before the kernel reached userspace"
    if PVM_MODULE.exists() and accel == "kvm":
        why += " (host KVM is PVM: kvm_pvm runs only PVM-built guests)"
    evidence = f"last output line: {lines[-1]!r}" if lines else "no output at all"
    return KvmVerdict(True, False, f"under {name}, {why}", evidence)
