"""QEMU backend: microvm machine, virtio-mmio devices, QMP control."""

from banger.vmm.qemu.argv import host_tsc_khz, qemu_argv, read_host_tsc_khz
from banger.vmm.qemu.backend import QemuBackend
from banger.vmm.qemu.qmp import QmpClient, QmpError

__all__ = ["QemuBackend", "QmpClient", "QmpError", "host_tsc_khz", "qemu_argv", "read_host_tsc_khz"]
