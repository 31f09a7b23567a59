"""The Firecracker backend against the conformance fake, only where the real one cannot answer.

Everything the real Firecracker v1.12.1 can answer here runs against it
(test_firecracker_real.py; test_firecracker_fake_parity.py keeps the fake honest). What
is left needs a guest, which the real one cannot run on this host (PVM KVM): the graceful
stop, where the guest obeys Ctrl+Alt+Del and Firecracker exits. The kernel checks involve
no process at all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.errors import FailedPrecondition
from banger.vmm import Drive, FirecrackerBackend, KernelCaps, NetIf, VMHandle, VMSpec
from banger.vmm.firecracker import FirecrackerApi, FirecrackerApiError

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
