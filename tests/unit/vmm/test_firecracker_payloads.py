"""Every payload builder's output must satisfy Firecracker's own API spec."""

from pathlib import Path

import pytest

from banger.vmm.base import Drive, KernelCaps, NetIf, VMSpec
from banger.vmm.firecracker import payloads
from tests.fixtures.firecracker_fake import fc_spec

FC_KERNEL_CONFIG = Path("/work/shared/firecracker/microvm-kernel-x86_64-6.1.config")


def _spec(**overrides: object) -> VMSpec:
    fields: dict[str, object] = {
        "vm_id": "vm1",
        "name": "web",
        "vm_dir": Path("/state/vms/vm1"),
        "cpus": 2,
        "memory_mib": 1024,
        "kernel": Path("/k/vmlinux"),
        "initrd": Path("/k/initrd.img"),
        "cmdline": "console=ttyS0 reboot=k",
        "drives": [
            Drive(id="root", path=Path("/d/root")),
            Drive(id="ro", path=Path("/d/r"), read_only=True),
        ],
        "net": NetIf(tap="tap0", mac="02:00:0a:00:00:05"),
        "console_log": Path("/state/vms/vm1/console.log"),
        "vsock_cid": 3,
    }
    fields.update(overrides)
    return VMSpec.model_validate(fields)


def _validate(method: str, path: str, body: dict[str, object]) -> None:
    matched = fc_spec.match_path(path)
    assert matched is not None, path
    validator = fc_spec.body_validator(matched[0], method)
    assert validator is not None
    errors = [e.message for e in validator.iter_errors(body)]
    assert errors == [], f"{method} {path}: {errors}"


def test_every_boot_request_is_valid_against_the_spec() -> None:
    requests = payloads.boot_requests(_spec(), payloads.runtime_paths(Path("/state/vms/vm1")))
    paths = [r.path for r in requests]
    assert paths == [
        "/metrics",
        "/machine-config",
        "/boot-source",
        "/drives/root",
        "/drives/ro",
        "/network-interfaces/eth0",
        "/vsock",
        "/actions",
    ]
    for request in requests:
        _validate(request.method, request.path, request.body)
    assert requests[-1].body == {"action_type": "InstanceStart"}


def test_drive_payloads_mark_only_the_first_as_root() -> None:
    drives = payloads.drive_payloads(_spec())
    assert [d["is_root_device"] for d in drives] == [True, False]
    assert [d["is_read_only"] for d in drives] == [False, True]


def test_optional_devices_are_left_out() -> None:
    spec = _spec(net=None, vsock_cid=None, initrd=None)
    requests = payloads.boot_requests(spec, payloads.runtime_paths(Path("/x")))
    assert not any(r.path.startswith(("/network", "/vsock")) for r in requests)
    assert "initrd_path" not in payloads.boot_source_payload(spec)


@pytest.mark.parametrize("action", ["InstanceStart", "SendCtrlAltDel", "FlushMetrics"])
def test_action_payloads_are_valid(action: payloads.Action) -> None:
    _validate("PUT", "/actions", payloads.action_payload(action))


def test_the_validator_really_rejects_bad_bodies() -> None:
    # Guards the tests above against a validator that accepts everything.
    validator = fc_spec.definition_validator("MachineConfiguration")
    assert not validator.is_valid({"vcpu_count": 0, "mem_size_mib": 128})
    assert not validator.is_valid({"mem_size_mib": 128})
    assert not fc_spec.definition_validator("InstanceActionInfo").is_valid({"action_type": "Boot"})


def test_kernel_caps_from_firecrackers_ci_config() -> None:
    caps = KernelCaps.from_kconfig(FC_KERNEL_CONFIG.read_text(), has_elf=True)
    # Firecracker's own CI kernel finds devices through ACPI, not the command line.
    expected = KernelCaps(
        has_elf=True, mmio_cmdline_devices=False, virtio_mmio="builtin", acpi=True
    )
    assert caps == expected


def test_kernel_caps_of_a_modular_kernel() -> None:
    text = "CONFIG_VIRTIO_MMIO=m\n# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n"
    caps = KernelCaps.from_kconfig(text, has_elf=False)
    assert caps == KernelCaps(has_elf=False, mmio_cmdline_devices=False, virtio_mmio="module")
    assert KernelCaps.from_kconfig("", has_elf=False).virtio_mmio == "absent"
