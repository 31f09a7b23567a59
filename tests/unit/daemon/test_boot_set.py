"""Which kernel file each backend boots, with which initrd, and what the kernel can do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import Image, ImageFiles, ImageSource, Kernel
from banger.daemon.boot_set import boot_set, kernel_file, managed_kernel_file, probe_kernel
from banger.errors import FailedPrecondition

NOW = datetime.now(UTC)
MMIO_CONFIG = "CONFIG_VIRTIO_MMIO=y\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\nCONFIG_ACPI=y\n"


def _kernel(directory: Path, *, bzimage: bool = True, config: str | None = None) -> Kernel:
    files = {"vmlinux": directory / "vmlinux", "initrd": directory / "initrd.img"}
    if bzimage:
        files["bzImage"] = directory / "bzImage"
    if config is not None:
        files["config"] = directory / "config"
        files["config"].write_text(config)
    return Kernel(
        id="k1",
        name="debian",
        version="6.1",
        arch="x86_64",
        features={"virtio_mmio": "module"},
        mmio_cmdline_devices=False,
        files={k: str(v) for k, v in files.items()},
        created_at=NOW,
    )


def _image(files: ImageFiles, kernel: str | None = "debian") -> Image:
    return Image(
        id="i1",
        name="deb",
        managed=True,
        kernel=kernel,
        files=files,
        source=ImageSource(kind="register"),
        created_at=NOW,
    )


def test_qemu_boots_the_bzimage_firecracker_the_elf(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    assert managed_kernel_file(kernel, "qemu") == tmp_path / "bzImage"
    assert managed_kernel_file(kernel, "firecracker") == tmp_path / "vmlinux"
    # A kernel imported as a bare vmlinux: QEMU boots that too.
    assert managed_kernel_file(_kernel(tmp_path, bzimage=False), "qemu") == tmp_path / "vmlinux"


def test_the_probe_boots_what_qemu_would(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    image = _image(ImageFiles(rootfs=tmp_path / "r.ext4"))
    assert probe_kernel(image, kernel) == kernel_file(image, kernel, "qemu") == tmp_path / "bzImage"


def test_an_image_without_any_kernel_is_one_clear_error(tmp_path: Path) -> None:
    image = _image(ImageFiles(rootfs=tmp_path / "r.ext4"), kernel=None)
    with pytest.raises(FailedPrecondition, match="neither a managed kernel nor a kernel file"):
        kernel_file(image, None, "qemu")


def test_managed_kernel_caps_come_from_its_config(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path, config=MMIO_CONFIG)
    chosen = boot_set(_image(ImageFiles(rootfs=tmp_path / "r.ext4")), kernel, "firecracker")
    assert chosen.kernel == tmp_path / "vmlinux" and chosen.initrd == tmp_path / "initrd.img"
    assert chosen.caps.has_elf and chosen.caps.mmio_cmdline_devices and chosen.caps.acpi
    # The recorded features say "module"; the config on disk is what the kernel really is.
    assert chosen.caps.virtio_mmio == "builtin"


def test_managed_kernel_without_config_uses_the_recorded_features(tmp_path: Path) -> None:
    chosen = boot_set(_image(ImageFiles(rootfs=tmp_path / "r.ext4")), _kernel(tmp_path), "qemu")
    assert chosen.caps.virtio_mmio == "module" and not chosen.caps.mmio_cmdline_devices
    assert chosen.caps.has_elf  # a vmlinux is on record


@pytest.mark.parametrize(("head", "elf"), [(b"\x7fELF", True), (b"MZ\x00\x00", False)])
def test_an_images_own_kernel_is_sniffed_for_elf(tmp_path: Path, head: bytes, elf: bool) -> None:
    own = tmp_path / "vmlinuz"
    own.write_bytes(head + bytes(512))
    initrd = tmp_path / "initrd"
    with_initrd = _image(
        ImageFiles(rootfs=tmp_path / "r.ext4", kernel_file=own, initrd=initrd), kernel=None
    )
    chosen = boot_set(with_initrd, None, "qemu")
    assert (chosen.kernel, chosen.initrd, chosen.caps.has_elf) == (own, initrd, elf)
    # With an initrd the virtio drivers may be modules; without one they must be built in.
    assert chosen.caps.virtio_mmio == "module"
    bare = _image(ImageFiles(rootfs=tmp_path / "r.ext4", kernel_file=own), kernel=None)
    assert boot_set(bare, None, "qemu").caps.virtio_mmio == "builtin"
