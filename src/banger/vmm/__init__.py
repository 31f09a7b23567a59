"""banger.vmm: the VMM backend protocol and its QEMU and Firecracker implementations."""

from banger.vmm.base import (
    Backend,
    Drive,
    KernelCaps,
    NetIf,
    ProcessState,
    VMHandle,
    VMSpec,
)
from banger.vmm.firecracker import FirecrackerBackend
from banger.vmm.qemu import QemuBackend

__all__ = [
    "Backend",
    "Drive",
    "FirecrackerBackend",
    "KernelCaps",
    "NetIf",
    "ProcessState",
    "QemuBackend",
    "VMHandle",
    "VMSpec",
]
