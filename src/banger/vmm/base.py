"""The VMM backend protocol: what the daemon asks of QEMU and Firecracker alike.

Like lima's driver interface, a backend has a handful of lifecycle methods. Unlike lima,
a backend that cannot do something says so loudly (FailedPrecondition) instead of
silently doing nothing. Status is never stored: it is derived when asked from the
process identity recorded in the `VMHandle` (pid + start time + exe), so a stale record
after a crash or a reused pid heals itself instead of lying.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from banger.kernels import features

Accel = Literal["kvm", "tcg"]


class ProcessState(StrEnum):
    """Whether a VMM process is alive and still the one a handle names."""

    RUNNING = "running"
    STOPPED = "stopped"


ModuleState = features.FeatureState  # built in, a module, or absent

_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


class Drive(BaseModel):
    """One virtio block device; the first drive of a spec is the root disk."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    path: Path
    read_only: bool = False


class NetIf(BaseModel):
    """A virtio-net device backed by an existing host tap device."""

    model_config = ConfigDict(frozen=True)

    tap: str = Field(min_length=1, max_length=15)  # IFNAMSIZ - 1
    mac: str = Field(pattern=_MAC.pattern)


class KernelCaps(BaseModel):
    """What a guest kernel can do, as far as a backend cares.

    The lead derives this from the kernel importer (banger.kernels); `from_kconfig` reads
    it from the kernel's .config text with the importer's own parser.
    """

    model_config = ConfigDict(frozen=True)

    has_elf: bool  # an uncompressed ELF vmlinux is available (Firecracker x86_64 needs it)
    # How the guest finds virtio-mmio devices: Firecracker < 1.8 lists them on the kernel
    # command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES); newer Firecracker and QEMU microvm
    # describe them in ACPI tables (CONFIG_ACPI). Firecracker needs one of the two.
    mmio_cmdline_devices: bool
    virtio_mmio: ModuleState  # CONFIG_VIRTIO_MMIO
    acpi: bool = False  # CONFIG_ACPI=y

    @classmethod
    def from_kconfig(cls, config_text: str, *, has_elf: bool) -> KernelCaps:
        # The one Kconfig parser (kernels.features), so a kernel's import and its boot
        # never read the same config differently.
        values = features.parse_config(config_text)
        return cls(
            has_elf=has_elf,
            mmio_cmdline_devices=features.symbol_state(values, features.MMIO_CMDLINE_SYMBOL)
            == "builtin",
            virtio_mmio=features.symbol_state(values, "CONFIG_VIRTIO_MMIO"),
            acpi=features.symbol_state(values, "CONFIG_ACPI") == "builtin",
        )


class VMSpec(BaseModel):
    """Everything a backend needs to boot one VM. All paths are absolute host paths."""

    model_config = ConfigDict(frozen=True)

    vm_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str
    vm_dir: Path  # sockets, pidfile and VMM logs live here
    cpus: int = Field(ge=1, le=32)
    memory_mib: int = Field(ge=64)
    kernel: Path  # ELF vmlinux or bzImage
    initrd: Path | None = None
    cmdline: str
    drives: list[Drive] = Field(default_factory=list)
    net: NetIf | None = None
    console_log: Path
    accel: Accel = "kvm"  # QEMU only; Firecracker always needs KVM
    vsock_cid: int | None = Field(default=None, ge=3)


def virtio_blk_device(index: int) -> str:
    """/dev/vda, /dev/vdb, ...: virtio-blk names disks in the order the VMM attaches them."""
    if not 0 <= index < 26:
        raise ValueError(f"drive index {index} out of range")
    return f"/dev/vd{chr(ord('a') + index)}"


class VMHandle(BaseModel):
    """What the daemon stores (as JSON) to find a running VMM again after a restart."""

    backend: str
    vm_id: str
    pid: int
    start_time: int  # /proc/<pid>/stat field 22, in clock ticks since host boot
    exe: str  # resolved /proc/<pid>/exe at spawn time
    api_socket: Path  # QMP socket (QEMU) or API socket (Firecracker)
    console_log: Path


@runtime_checkable
class Backend(Protocol):
    """A VMM backend. Every method either does what it says or raises a BangerError."""

    name: str
    has_vsock: bool  # whether guests of this backend get a vsock device
    tap_owner: int | None  # the uid the VMM runs as, if not root: it must open the tap

    def guest_drive_device(self, index: int) -> str:
        """The device node the guest sees for the drive at `index` in VMSpec.drives."""

    def effective_accel(self, requested: Accel) -> Accel:
        """The accelerator this backend really uses when `requested` is asked for."""

    def check_spec(self, spec: VMSpec, caps: KernelCaps) -> None:
        """Raise FailedPrecondition naming why this backend cannot boot `spec`."""

    def start(self, spec: VMSpec) -> VMHandle:
        """Spawn the VMM detached from the caller and boot the guest; undo on failure."""

    def stop(self, handle: VMHandle, timeout: float = 30.0) -> None:
        """Ask the guest to shut down, then SIGTERM, then SIGKILL; return once it is gone."""

    def kill(self, handle: VMHandle) -> None:
        """SIGKILL the VMM (if it is still the process the handle names) and wait for it."""

    def status(self, handle: VMHandle) -> ProcessState:
        """'running' only if the handle's pid is alive and is still the same VMM process."""

    def reattach(self, handle: VMHandle) -> bool:
        """After a daemon restart: True if the process is ours and its socket answers."""
