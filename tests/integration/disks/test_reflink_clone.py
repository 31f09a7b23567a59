"""Reflink clones for real on a loop-mounted btrfs image (the detach always happens)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from banger import proc
from banger.disks.clone import clone_disk, detect_strategy, reflink_supported

pytestmark = pytest.mark.integration

MIB = 1 << 20


@pytest.fixture
def btrfs_mount() -> Iterator[Path]:
    """A fresh 256 MiB (sparse) btrfs, loop-attached and mounted; always unmounted/detached."""
    with ExitStack() as undo:
        work = Path(tempfile.mkdtemp(prefix="banger-reflink-"))
        undo.callback(work.rmdir)
        image = work / "fs.img"
        with image.open("wb") as f:
            f.truncate(256 * MIB)
        undo.callback(image.unlink)
        proc.run(["mkfs.btrfs", "-q", str(image)])
        loop = proc.run(["losetup", "--find", "--show", str(image)]).stdout.strip()
        undo.callback(proc.run, ["losetup", "-d", loop])
        mnt = work / "mnt"
        mnt.mkdir()
        undo.callback(mnt.rmdir)
        proc.run(["mount", loop, str(mnt)])
        undo.callback(proc.run, ["umount", str(mnt)])
        yield mnt


def _shared_extents(path: Path) -> tuple[int, int]:
    """(extents, extents flagged shared) from filefrag -v, i.e. FIEMAP_EXTENT_SHARED."""
    out = proc.run(["filefrag", "-v", str(path)]).stdout
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit() and ":" in line]
    return len(rows), sum("shared" in row for row in rows)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reflink_clone_shares_extents_and_copies_on_write(btrfs_mount: Path) -> None:
    assert reflink_supported(btrfs_mount)
    assert detect_strategy(btrfs_mount) == "reflink"
    src = btrfs_mount / "rootfs.ext4"
    with src.open("wb") as f:
        f.write(os.urandom(8 * MIB))
        f.truncate(64 * MIB)
    os.sync()
    before = _digest(src)

    vm_dir = btrfs_mount / "vm1"
    vm_dir.mkdir()
    result = clone_disk(src, vm_dir / "root.ext4", "reflink")
    assert result.strategy == "reflink" and result.copied_bytes == 0
    dst = result.path
    os.sync()
    extents, shared = _shared_extents(dst)
    assert extents > 0 and shared == extents, "every extent of the clone must be shared"
    assert _shared_extents(src)[1] > 0
    assert dst.stat().st_size == src.stat().st_size
    assert _digest(dst) == before
    assert sorted(p.name for p in vm_dir.iterdir()) == ["root.ext4"]

    # A VM writing to its clone must not change the image.
    with dst.open("r+b") as f:
        f.seek(MIB)
        f.write(b"written by the vm" * 1000)
    os.sync()
    assert _digest(src) == before
    assert _digest(dst) != before


def test_ext4_directory_gets_the_copy_strategy(tmp_path: Path) -> None:
    fstype = proc.run(["stat", "-f", "-c", "%T", str(tmp_path)]).stdout.strip()
    if fstype != "ext2/ext3":
        pytest.skip(f"tmp_path is on {fstype}, not ext4")
    assert not reflink_supported(tmp_path)
    assert detect_strategy(tmp_path) == "copy"  # never dm-snapshot: it is not wired yet
    assert list(tmp_path.iterdir()) == [], "the probe files must be gone"
