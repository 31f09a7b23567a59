"""A VM's own disks: a copy-on-write clone of the image rootfs, an optional work disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from banger.api.models import Image
from banger.daemon.image_copy import require_trusted_files
from banger.disks import ext4
from banger.disks.clone import CloneStrategy, clone_disk, detect_strategy
from banger.errors import InvalidArgument
from banger.images import bootset
from banger.ops.reporter import Reporter
from banger.store.layout import VMDir


def choose_strategy(configured: str, vms_dir: Path) -> CloneStrategy:
    if configured != "auto":
        return configured  # type: ignore[return-value]
    return detect_strategy(vms_dir)


def provision_disks(
    image: Image, vm_dir: VMDir, strategy: CloneStrategy, disk_size: int | None, reporter: Reporter
) -> tuple[int, bool]:
    """Clone the image's rootfs (and work seed) into vm_dir; return (root size, has work)."""
    # An unmanaged image's files are root's (members' registrations are copied into
    # images/<id>/, daemon/image_copy.py): root reads only what root registered.
    require_trusted_files(image)
    rootfs = image.files.rootfs
    bootset.validate_rootfs(rootfs)  # unmanaged images are checked again at use
    if disk_size is not None and disk_size < rootfs.stat().st_size:
        raise InvalidArgument(
            f"--disk-size {disk_size // 2**20} MiB is smaller than the image "
            f"({rootfs.stat().st_size // 2**20} MiB)",
            hint="pass a larger size or leave it out to keep the image's size",
        )
    reporter.stage("clone disk")
    root = vm_dir.root_disk
    clone_disk(rootfs, root, strategy, reporter=reporter)
    if disk_size is not None and disk_size > root.stat().st_size:
        reporter.stage("grow disk")
        ext4.grow(root, disk_size)
    seed = image.files.work_seed
    if seed is not None:
        bootset.validate_rootfs(seed)
        clone_disk(seed, vm_dir.work_disk, strategy, reporter=reporter)
    return root.stat().st_size, seed is not None


def remove_vm_dir(vm_dir: Path) -> None:
    shutil.rmtree(vm_dir, ignore_errors=True)
