"""The real Firecracker backend against the conformance fixture (a fake serving FC's API)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.errors import FailedPrecondition
from banger.vmm import Drive, FirecrackerBackend, KernelCaps, NetIf, VMHandle, VMSpec
from banger.vmm.firecracker import FirecrackerApi, FirecrackerApiError
from banger.vmm.process import identify

pytestmark = pytest.mark.integration

FAKE_SOURCE = Path(__file__).resolve().parents[2] / "fixtures/firecracker_fake/firecracker"


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake, run by this interpreter (which has pyyaml and jsonschema), as a binary."""
    wrapper = tmp_path_factory.mktemp("fc") / "firecracker"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SOURCE}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


FC_CAPS = KernelCaps(has_elf=True, mmio_cmdline_devices=False, virtio_mmio="builtin", acpi=True)


@pytest.fixture
def spec(tmp_path: Path) -> VMSpec:
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\x7fELF" + bytes(60))
    root = tmp_path / "root.ext4"
    root.write_bytes(bytes(4096))
    return VMSpec(
        vm_id="vm_fc1",
        name="fc1",
        vm_dir=tmp_path,
        cpus=2,
        memory_mib=256,
        kernel=kernel,
        cmdline="console=ttyS0 reboot=k",
        drives=[Drive(id="root", path=root)],
        net=NetIf(tap="tap-fc1", mac="02:00:00:00:00:01"),
        vsock_cid=3,
        console_log=tmp_path / "console.log",
    )


@pytest.fixture
def backend(fake_bin: Path) -> Iterator[FirecrackerBackend]:
    started: list[VMHandle] = []
    fc = FirecrackerBackend(fake_bin)
    real_start = fc.start

    def tracking_start(spec: VMSpec) -> VMHandle:
        handle = real_start(spec)
        started.append(handle)
        return handle

    fc.start = tracking_start  # type: ignore[method-assign]
    yield fc
    for handle in started:
        fc.kill(handle)


def test_start_configures_everything_and_stop_uses_ctrl_alt_del(
    backend: FirecrackerBackend, spec: VMSpec
) -> None:
    handle = backend.start(spec)
    assert backend.status(handle) == "running"
    with FirecrackerApi(handle.api_socket) as api:
        assert api.describe_instance()["state"] == "Running"
        # Pre-boot-only resources are refused after InstanceStart, with FC's message.
        with pytest.raises(FirecrackerApiError, match="not supported after starting"):
            api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    console = spec.console_log.read_text()
    assert "InstanceStart" in console and "drives=['root']" in console
    backend.stop(handle, timeout=5)
    assert backend.status(handle) == "stopped"
    assert "SendCtrlAltDel" in spec.console_log.read_text()  # graceful path, not SIGTERM


def test_bad_request_surfaces_fault_message_as_one_line(
    backend: FirecrackerBackend, spec: VMSpec, tmp_path: Path
) -> None:
    missing = spec.model_copy(update={"drives": [Drive(id="root", path=tmp_path / "nope")]})
    with pytest.raises(FirecrackerApiError) as info:
        backend.start(missing)
    message = info.value.one_line()
    assert "PUT /drives/root" in message and "No such file or directory" in message
    assert "\n" not in message
    # The failed start left no process and no socket behind.
    assert not (tmp_path / "firecracker.sock").exists()
    assert not any(
        (ident := identify(int(pid))) and str(tmp_path) in " ".join(ident.cmdline)
        for pid in os.listdir("/proc")
        if pid.isdigit()
    )


def test_schema_violation_is_refused(backend: FirecrackerBackend, spec: VMSpec) -> None:
    handle = backend.start(spec)
    with FirecrackerApi(handle.api_socket) as api, pytest.raises(FirecrackerApiError) as info:
        api.put("/actions", {"action_type": "Reboot"})
    assert "deserializing" in info.value.message and "Reboot" in info.value.message


def test_kill_9_is_detected_and_reattach_fails(
    backend: FirecrackerBackend, spec: VMSpec, fake_bin: Path
) -> None:
    handle = backend.start(spec)
    restored = VMHandle.model_validate_json(handle.model_dump_json())
    fresh = FirecrackerBackend(fake_bin)  # as after a daemon restart
    assert fresh.reattach(restored) and fresh.status(restored) == "running"
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while fresh.status(restored) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh.status(restored) == "stopped"
    assert not fresh.reattach(restored)
    fresh.stop(restored, timeout=1)  # stopping what is gone is success


def test_pid_reuse_is_not_trusted(backend: FirecrackerBackend, spec: VMSpec) -> None:
    handle = backend.start(spec)
    stale = handle.model_copy(update={"start_time": handle.start_time - 1})
    assert backend.status(stale) == "stopped" and not backend.reattach(stale)
    backend.kill(stale)  # must not kill the real process behind a reused pid
    assert backend.status(handle) == "running"


def test_refuses_kernels_firecracker_cannot_boot(
    tmp_path: Path, spec: VMSpec, fake_bin: Path
) -> None:
    fc = FirecrackerBackend(fake_bin)
    fc.check_spec(spec, FC_CAPS)  # a Firecracker-ready kernel passes
    bzimage = tmp_path / "vmlinuz"
    bzimage.write_bytes(b"MZ" + bytes(60))
    with pytest.raises(FailedPrecondition, match="uncompressed ELF vmlinux"):
        fc.check_spec(spec.model_copy(update={"kernel": bzimage}), FC_CAPS)
    debian_like = KernelCaps(has_elf=True, mmio_cmdline_devices=False, virtio_mmio="module")
    with pytest.raises(FailedPrecondition, match="no initrd"):
        fc.check_spec(spec, debian_like)
    no_discovery = FC_CAPS.model_copy(update={"acpi": False})
    with pytest.raises(FailedPrecondition, match="neither on its command line"):
        fc.check_spec(spec, no_discovery)
    with pytest.raises(FailedPrecondition, match="KVM"):
        fc.check_spec(spec.model_copy(update={"accel": "tcg"}), FC_CAPS)


def test_sigterm_fallback_when_ctrl_alt_del_is_unanswered(
    backend: FirecrackerBackend, spec: VMSpec
) -> None:
    handle = backend.start(spec)
    os.kill(handle.pid, signal.SIGSTOP)  # a wedged VMM: the API cannot answer
    try:
        backend.stop(handle, timeout=0.5)
    finally:
        if backend.status(handle) == "running":
            os.kill(handle.pid, signal.SIGCONT)
    assert backend.status(handle) == "stopped"
