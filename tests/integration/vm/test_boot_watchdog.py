"""A guest that stalls, panics or dies while booting fails within seconds, naming the cause
and its console's last line, and leaves nothing behind — real QEMU boots, no timing asserts
beyond the bound the issue promises (a stall must fail well inside the 300 s outer bound)."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.kernels import cpio
from banger.kernels.initrd import check_static_busybox
from tests.helpers.daemon import RunningDaemon, debian_daemon
from tests.helpers.kernel_artifacts import debian_kernel_deb
from tests.integration.vm.conftest import all_taps

pytestmark = pytest.mark.integration


def _initrd(dest: Path, init: str) -> Path:
    """An initrd whose /init is `init` (busybox sh): the guest behaviour under test."""
    entries = [
        cpio.directory("bin"),
        cpio.directory("dev"),
        cpio.char_device("dev/console", 5, 1),
        cpio.regular("bin/busybox", check_static_busybox(Path("/bin/busybox")), 0o755),
        cpio.regular("init", f"#!/bin/busybox sh\n{init}\n".encode(), 0o755),
    ]
    buffer = io.BytesIO()
    cpio.write_newc(buffer, entries)
    dest.write_bytes(gzip.compress(buffer.getvalue()))
    return dest


@pytest.fixture(scope="module")
def wd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A daemon with the default watchdog bounds and images whose initrd misbehaves."""
    root = tmp_path_factory.mktemp("wd")
    with debian_daemon(root, 'default_image_name = "deb"\n', 'accel = "tcg"\n') as daemon:
        kernel = json.loads(daemon.cli("kernel", "show", "debian", "--json", check=True).stdout)
        rootfs = root / "debian.ext4"
        behaviours = {
            # Prints once from userspace, then nothing ever again (no sshd, no init).
            "stall": "/bin/busybox echo banger-test: stalling now\nexec /bin/busybox sleep 100000",
            # PID 1 exits: the kernel panics ("Attempted to kill init!").
            "panic": "/bin/busybox echo banger-test: exiting\nexit 3",
        }
        for name, init in behaviours.items():
            daemon.cli(
                "image",
                "register",
                "--name",
                name,
                "--rootfs",
                str(rootfs),
                "--kernel",
                kernel["files"]["bzImage"],
                "--initrd",
                str(_initrd(root / f"{name}.img", init)),
                check=True,
            )
        # Builds boot a managed kernel: one whose initrd makes PID 1 exit.
        daemon.cli(
            "kernel", "import", str(debian_kernel_deb()), "--name", "panicky",
            "--initrd", str(root / "panic.img"), check=True,
        )  # fmt: skip
        yield daemon


def _leftovers(daemon: RunningDaemon, taps_before: set[str]) -> list[str]:
    found = [f"vm dir {p.name}" for p in (daemon.state_dir / "vms").iterdir()]
    procs = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True)
    found += [f"process {line}" for line in procs.stdout.splitlines() if str(daemon.root) in line]
    found += [f"tap {t}" for t in all_taps() - taps_before]
    with sqlite3.connect(daemon.state_dir / "banger.db") as conn:
        found += [f"lease {r[0]}" for r in conn.execute("SELECT owner FROM ip_leases")]
        found += [f"vm row {r[0]}" for r in conn.execute("SELECT id FROM vms")]
    return found


def _error_line(stderr: str) -> str:
    """The one error line the CLI prints after the operation's progress."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _last_op_log(daemon: RunningDaemon) -> str:
    ops = json.loads(daemon.cli("--json", "ops", "list", check=True).stdout)
    return daemon.cli("ops", "show", ops[0]["id"], check=True).stdout


def test_a_guest_that_goes_silent_fails_within_a_minute_naming_its_last_line(
    wd: RunningDaemon,
) -> None:
    taps = all_taps()
    started = time.monotonic()
    out = wd.cli("vm", "create", "--name", "silent", "--image", "stall", "--wait", timeout=280)
    elapsed = time.monotonic() - started
    assert out.returncode != 0
    error = _error_line(out.stderr)
    assert "stalled in userspace" in error and "console's last line" in error, error
    assert "sshd" in error  # init ran: the hint is about the image, not KVM
    assert elapsed < 60, f"a stalled guest took {elapsed:.0f} s to fail"
    # The error quotes the console's real last line; the operation log keeps the tail.
    log = _last_op_log(wd)
    assert "console: banger-test: stalling now" in log, log
    last_console = [line for line in log.splitlines() if "console: " in line][-1]
    assert last_console.split("console: ", 1)[1] in error
    assert _leftovers(wd, taps) == []


def test_a_kernel_panic_fails_at_once_with_the_panic_line(wd: RunningDaemon) -> None:
    taps = all_taps()
    out = wd.cli("vm", "create", "--name", "panics", "--image", "panic", "--wait", timeout=280)
    assert out.returncode != 0
    error = _error_line(out.stderr)
    assert "panicked" in error and "Attempted to kill init" in error, error
    assert "sshd" not in error
    assert _leftovers(wd, taps) == []


def test_vm_start_wait_of_an_existing_vm_keeps_the_vm_and_records_why(wd: RunningDaemon) -> None:
    wd.cli("vm", "create", "--name", "keeps", "--image", "panic", "--no-start", check=True)
    out = wd.cli("vm", "start", "keeps", "--wait", timeout=280)
    assert out.returncode != 0 and "panicked" in out.stderr
    vm = json.loads(wd.cli("vm", "show", "keeps", "--json", check=True).stdout)
    assert vm["state"] == "stopped" and "panicked" in (vm["reason"] or "")
    assert "Kernel panic" in wd.cli("vm", "logs", "keeps", check=True).stdout
    wd.cli("vm", "delete", "keeps", check=True)


@pytest.fixture(scope="module")
def forced_kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("kvmforced")
    with debian_daemon(root, 'default_image_name = "deb"\n', 'accel = "kvm"\n') as daemon:
        yield daemon


def test_forced_kvm_that_cannot_run_the_guest_fails_fast_naming_kvm(
    forced_kvm: RunningDaemon,
) -> None:
    if not Path("/dev/kvm").exists():
        pytest.skip("no /dev/kvm: accel=kvm is refused up front (another test)")
    report = json.loads(forced_kvm.cli("doctor", "--json").stdout)
    kvm = {c["name"]: c for c in report["checks"]}["kvm usable"]
    if kvm["status"] == "pass":
        pytest.skip("KVM really runs guests here; nothing stalls")
    taps = all_taps()
    started = time.monotonic()
    out = forced_kvm.cli("vm", "create", "--name", "kvm1", "--wait", timeout=280)
    elapsed = time.monotonic() - started
    assert out.returncode != 0
    error = _error_line(out.stderr)
    assert "KVM" in error and "sshd" not in error, error
    assert 'accel = "auto" or "tcg"' in error
    assert elapsed < 60, f"took {elapsed:.0f} s"
    assert _leftovers(forced_kvm, taps) == []


@pytest.mark.parametrize("via", ["console", "ssh"])
def test_an_image_build_whose_builder_panics_fails_at_once(wd: RunningDaemon, via: str) -> None:
    taps = all_taps()
    out = wd.cli(
        "image", "build", "--from-image", "deb", "--kernel-ref", "panicky", "--name",
        f"never-{via}", "--run", "true", "--via", via, timeout=280,
    )  # fmt: skip
    assert out.returncode != 0
    error = _error_line(out.stderr)
    assert "panicked" in error and "Attempted to kill init" in error, error
    assert wd.cli("image", "show", f"never-{via}").returncode != 0
    assert [p.name for p in (wd.state_dir / "tmp").iterdir() if p.name.startswith("build-")] == []
    assert _leftovers(wd, taps) == []
