"""Real QEMU (TCG) boots of Debian's cloud kernel with a busybox initrd."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.errors import FailedPrecondition
from banger.vmm import Drive, KernelCaps, QemuBackend, VMHandle, VMSpec
from banger.vmm.process import read_cmdline
from tests.integration.vmm.guest_artifacts import GuestArtifacts, guest_artifacts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def artifacts() -> GuestArtifacts:
    return guest_artifacts()


@pytest.fixture
def qemu() -> Iterator[QemuBackend]:
    backend = QemuBackend()
    handles: list[VMHandle] = []
    real_start = backend.start

    def tracking_start(spec: VMSpec) -> VMHandle:
        handle = real_start(spec)
        handles.append(handle)
        return handle

    backend.start = tracking_start  # type: ignore[method-assign]
    yield backend
    for handle in handles:  # whatever a test did, no QEMU outlives it
        backend.kill(handle)


def _spec(artifacts: GuestArtifacts, vm_dir: Path, mode: str) -> VMSpec:
    disk = vm_dir / "disk.img"
    disk.write_bytes(bytes(4 << 20))
    return VMSpec(
        vm_id="vmqemu",
        name="qemu-test",
        vm_dir=vm_dir,
        cpus=1,
        memory_mib=256,
        kernel=artifacts.kernel,
        initrd=artifacts.initrd,
        cmdline=f"console=ttyS0 panic=-1 quiet banger_test={mode}",
        drives=[Drive(id="root", path=disk)],
        console_log=vm_dir / "console.log",
        accel="tcg",
    )


def _wait_console(spec: VMSpec, marker: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = spec.console_log.read_text(errors="replace") if spec.console_log.exists() else ""
        if marker in text:
            return text
        time.sleep(0.2)
    pytest.fail(f"{marker} not in console log:\n{text[-2000:]}")


def test_boot_then_graceful_powerdown(
    qemu: QemuBackend, artifacts: GuestArtifacts, tmp_path: Path
) -> None:
    spec = _spec(artifacts, tmp_path, "button")
    handle = qemu.start(spec)
    assert qemu.status(handle) == "running"
    console = _wait_console(spec, "BANGER-TEST-READY")
    assert "BANGER-TEST-VDA-SECTORS=8192" in console  # the virtio-blk drive reached the guest
    # The TCG calibration fix is on the guest command line QEMU runs with.
    assert "tsc_early_khz=" in " ".join(read_cmdline(handle.pid))
    qemu.stop(handle, timeout=30)
    assert qemu.status(handle) == "stopped"
    console = spec.console_log.read_text()
    assert "BANGER-TEST-BUTTON" in console  # guest saw the power button
    assert "reboot: Power down" in console  # and powered off by itself, before any SIGTERM


def test_stop_falls_back_to_sigterm_when_guest_ignores_button(
    qemu: QemuBackend, artifacts: GuestArtifacts, tmp_path: Path
) -> None:
    spec = _spec(artifacts, tmp_path, "ignore")
    handle = qemu.start(spec)
    _wait_console(spec, "BANGER-TEST-READY")
    started = time.monotonic()
    qemu.stop(handle, timeout=2)
    assert qemu.status(handle) == "stopped"
    assert time.monotonic() - started >= 2  # it waited out the guest's grace period first
    assert "BANGER-TEST-BUTTON" not in spec.console_log.read_text()


def test_kill_9_reattach_and_pid_reuse(
    qemu: QemuBackend, artifacts: GuestArtifacts, tmp_path: Path
) -> None:
    spec = _spec(artifacts, tmp_path, "ignore")
    handle = qemu.start(spec)
    restored = VMHandle.model_validate_json(handle.model_dump_json())
    restarted = QemuBackend()  # a new backend object, as after a daemon restart
    assert restarted.reattach(restored)
    stale = restored.model_copy(update={"start_time": restored.start_time + 1})
    assert restarted.status(stale) == "stopped" and not restarted.reattach(stale)
    restarted.kill(stale)  # a wrong identity must never be signalled
    assert restarted.status(restored) == "running"
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while restarted.status(restored) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert restarted.status(restored) == "stopped"
    assert not restarted.reattach(restored)


def test_guest_that_powers_off_is_seen_as_stopped(
    qemu: QemuBackend, artifacts: GuestArtifacts, tmp_path: Path
) -> None:
    spec = _spec(artifacts, tmp_path, "poweroff")
    handle = qemu.start(spec)
    _wait_console(spec, "BANGER-TEST-POWEROFF")
    deadline = time.monotonic() + 30
    while qemu.status(handle) == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qemu.status(handle) == "stopped"


def test_check_spec_refusals(artifacts: GuestArtifacts, tmp_path: Path) -> None:
    spec = _spec(artifacts, tmp_path, "ignore")
    debian = KernelCaps.from_kconfig(artifacts.kconfig.read_text(), has_elf=False)
    QemuBackend().check_spec(spec, debian)
    with pytest.raises(FailedPrecondition, match="no initrd loads it"):
        QemuBackend().check_spec(spec.model_copy(update={"initrd": None}), debian)
    if not Path("/dev/vhost-vsock").exists():
        with pytest.raises(FailedPrecondition, match="vhost-vsock"):
            QemuBackend().check_spec(spec.model_copy(update={"vsock_cid": 3}), debian)
