"""A VM's disks: the clone strategy chosen, and clones made from real ext4 images."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import Image, ImageFiles, ImageSource
from banger.daemon.vm_disks import choose_strategy, provision_disks
from banger.disks.clone import reflink_supported
from banger.errors import FailedPrecondition, InvalidArgument
from banger.ops.reporter import NullReporter
from banger.store.layout import VMDir

MIB = 2**20


def _ext4(path: Path, mib: int) -> Path:
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(path), f"{mib}M"], check=True)
    return path


def _image(rootfs: Path, work_seed: Path | None = None) -> Image:
    return Image(
        id="i1",
        name="tiny",
        managed=True,
        files=ImageFiles(rootfs=rootfs, work_seed=work_seed),
        source=ImageSource(kind="register"),
        created_at=datetime.now(UTC),
    )


@pytest.fixture
def vm_dir(tmp_path: Path) -> VMDir:
    directory = VMDir(tmp_path / "vms" / "v1")
    directory.path.mkdir(parents=True)
    return directory


def test_a_configured_strategy_is_kept_auto_asks_the_filesystem(tmp_path: Path) -> None:
    assert choose_strategy("copy", tmp_path) == "copy"
    assert choose_strategy("reflink", tmp_path) == "reflink"  # the clone itself then checks
    assert choose_strategy("auto", tmp_path) == (
        "reflink" if reflink_supported(tmp_path) else "copy"
    )


def test_the_clone_keeps_the_image_size_or_grows_to_the_asked_one(
    tmp_path: Path, vm_dir: VMDir
) -> None:
    image = _image(_ext4(tmp_path / "rootfs.ext4", 8))
    size, has_work = provision_disks(image, vm_dir, "copy", None, NullReporter())
    assert (size, has_work) == (8 * MIB, False)
    assert vm_dir.root_disk.stat().st_size == 8 * MIB and not vm_dir.work_disk.exists()

    grown = VMDir(tmp_path / "vms" / "v2")
    grown.path.mkdir()
    reporter = NullReporter()
    size, _ = provision_disks(image, grown, "copy", 16 * MIB, reporter)
    assert size == 16 * MIB and reporter.stages == ["clone disk", "grow disk"]
    subprocess.run(["e2fsck", "-fn", str(grown.root_disk)], check=True, capture_output=True)


def test_a_work_seed_becomes_the_vms_work_disk(tmp_path: Path, vm_dir: VMDir) -> None:
    seed = _ext4(tmp_path / "seed.ext4", 4)
    image = _image(_ext4(tmp_path / "rootfs.ext4", 8), work_seed=seed)
    _, has_work = provision_disks(image, vm_dir, "copy", None, NullReporter())
    assert has_work and vm_dir.work_disk.read_bytes() == seed.read_bytes()


def test_a_disk_smaller_than_the_image_is_refused_before_any_copy(
    tmp_path: Path, vm_dir: VMDir
) -> None:
    image = _image(_ext4(tmp_path / "rootfs.ext4", 8))
    with pytest.raises(InvalidArgument, match="--disk-size 4 MiB is smaller than the image"):
        provision_disks(image, vm_dir, "copy", 4 * MIB, NullReporter())
    assert list(vm_dir.path.iterdir()) == []


def test_a_rootfs_that_is_not_ext4_is_refused(tmp_path: Path, vm_dir: VMDir) -> None:
    junk = tmp_path / "rootfs.ext4"
    junk.write_bytes(bytes(2 * MIB))
    with pytest.raises(FailedPrecondition, match="not an ext4 filesystem"):
        provision_disks(_image(junk), vm_dir, "copy", None, NullReporter())
    assert list(vm_dir.path.iterdir()) == []
