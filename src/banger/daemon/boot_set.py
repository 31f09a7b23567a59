"""Which kernel file a backend boots for an image, its initrd, and what that kernel can do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from banger.api.models import Image, Kernel
from banger.errors import FailedPrecondition
from banger.vmm import KernelCaps


@dataclass(frozen=True)
class BootSet:
    kernel: Path
    initrd: Path | None
    caps: KernelCaps


def managed_kernel_file(kernel: Kernel, backend: str) -> Path:
    """QEMU boots the bzImage as distributed; Firecracker needs the ELF vmlinux."""
    chosen = kernel.files.get("bzImage") if backend == "qemu" else None
    return Path(chosen or kernel.files["vmlinux"])


def kernel_file(image: Image, kernel: Kernel | None, backend: str) -> Path:
    """The file a backend boots for an image: its managed kernel's, else its own."""
    if kernel is None:
        if image.files.kernel_file is None:
            # Only a record edited by hand gets here: register demands one or the other.
            raise FailedPrecondition(
                f"image '{image.name}' names neither a managed kernel nor a kernel file",
                hint="register it again with --kernel-ref NAME or --kernel FILE",
            )
        return image.files.kernel_file
    return managed_kernel_file(kernel, backend)


def boot_set(image: Image, kernel: Kernel | None, backend: str) -> BootSet:
    """The kernel file a backend should boot, its initrd, and what the kernel can do."""
    path = kernel_file(image, kernel, backend)
    if kernel is not None:
        files = {k: Path(v) for k, v in kernel.files.items()}
        config = files.get("config")
        if config is not None and config.exists():
            caps = KernelCaps.from_kconfig(config.read_text(), has_elf="vmlinux" in files)
        else:
            caps = KernelCaps(
                has_elf="vmlinux" in files,
                mmio_cmdline_devices=kernel.mmio_cmdline_devices,
                virtio_mmio=kernel.features.get("virtio_mmio", "absent"),
            )  # type: ignore[arg-type]
        return BootSet(path, files.get("initrd"), caps)
    initrd = image.files.initrd
    with path.open("rb") as f:
        is_elf = f.read(4) == b"\x7fELF"
    caps = KernelCaps(
        has_elf=is_elf, mmio_cmdline_devices=False, virtio_mmio="module" if initrd else "builtin"
    )
    return BootSet(path, initrd, caps)


def probe_kernel(image: Image, kernel: Kernel | None) -> Path:
    """The file the KVM probe boots for this image: what QEMU would boot (no file is read)."""
    return kernel_file(image, kernel, "qemu")
