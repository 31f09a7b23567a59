"""make_ext4 / fsck / grow / shrink / is_ext4 / ext4_info against real e2fsprogs on files.

These need no privileges (mke2fs -d on a tree owned by the caller, images are plain files),
so they run in the unit suite; each takes well under a second.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from banger import proc
from banger.disks.ext4 import (
    FsckResult,
    estimate_size,
    ext4_info,
    fsck,
    grow,
    is_ext4,
    make_ext4,
    shrink_to_content,
)
from banger.errors import CommandFailed, InvalidArgument

MIB = 1024 * 1024


def _many_small_files(root: Path) -> Path:
    for d in range(20):
        sub = root / f"dir{d}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"file{f}.txt").write_bytes(b"z" * (50 + f * 37))
    return root


def _few_large_files(root: Path) -> Path:
    root.mkdir()
    rng = random.Random(7)
    for i in range(3):
        (root / f"blob{i}").write_bytes(rng.randbytes(7 * MIB + i * 4097))
    return root


def _huge_directory(root: Path) -> Path:
    root.mkdir()
    for i in range(4000):
        (root / f"entry-with-a-fairly-long-name-{i:06d}").symlink_to(f"target-{i}" * 8)
    return root


@pytest.mark.parametrize("make_tree", [_many_small_files, _few_large_files, _huge_directory])
def test_tree_fits_at_estimate_without_much_waste(tmp_path: Path, make_tree) -> None:
    tree = make_tree(tmp_path / "tree")
    out = tmp_path / "out" / "root.ext4"
    size = make_ext4(tree, out, free_bytes=0)
    info = ext4_info(out)
    assert info.size_bytes == size.bytes == out.stat().st_size
    assert info.inode_count >= size.inodes
    # Not wildly oversized: at most 3 MiB or 5 % is left over when no free space was asked.
    assert info.free_bytes <= max(3 * MIB, size.bytes // 20), (info, size)
    assert fsck(out, fix=False) is FsckResult.CLEAN


def test_requested_free_space_is_really_free(tmp_path: Path) -> None:
    tree = _many_small_files(tmp_path / "tree")
    out = tmp_path / "root.ext4"
    make_ext4(tree, out, free_bytes=64 * MIB, label="banger-test")
    info = ext4_info(out)
    assert 64 * MIB <= info.free_bytes <= 64 * MIB + 4 * MIB
    assert info.label == "banger-test"
    assert len(info.uuid) == 36
    assert is_ext4(out)
    # The image holds the tree: read a file back.
    cat = proc.run(["debugfs", "-R", "cat /dir3/file5.txt", out])
    assert cat.stdout == "z" * (50 + 5 * 37)


def test_too_small_size_is_refused_before_any_work(tmp_path: Path) -> None:
    tree = _few_large_files(tmp_path / "tree")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    minimum = estimate_size(tree, free_bytes=0).bytes
    with pytest.raises(InvalidArgument) as err:
        make_ext4(tree, out_dir / "root.ext4", size_bytes=minimum - 4096)
    assert str(minimum) in err.value.message
    assert list(out_dir.iterdir()) == []


def test_failed_build_leaves_no_partial_file(tmp_path: Path) -> None:
    tree = _many_small_files(tmp_path / "tree")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # 32 TiB is beyond what a file on the host filesystem may hold: mke2fs itself fails.
    with pytest.raises(CommandFailed, match="mke2fs"):
        make_ext4(tree, out_dir / "root.ext4", size_bytes=2**45)
    assert list(out_dir.iterdir()) == []


def test_fsck_reports_and_fixes_damage(tmp_path: Path) -> None:
    tree = _many_small_files(tmp_path / "tree")
    image = tmp_path / "root.ext4"
    make_ext4(tree, image, free_bytes=8 * MIB)
    # Damage: claim the root directory has a wrong link count.
    proc.run(["debugfs", "-w", "-R", "sif / links_count 7", image])
    with pytest.raises(CommandFailed, match="e2fsck failed with exit code 4"):
        fsck(image, fix=False)
    assert fsck(image, fix=True) is FsckResult.CORRECTED
    assert fsck(image, fix=False) is FsckResult.CLEAN


def test_grow_then_shrink_round_trip(tmp_path: Path) -> None:
    tree = _many_small_files(tmp_path / "tree")
    image = tmp_path / "root.ext4"
    make_ext4(tree, image, free_bytes=16 * MIB)
    before = ext4_info(image)
    grow(image, before.size_bytes + 100 * MIB)
    grown = ext4_info(image)
    assert grown.size_bytes == before.size_bytes + 100 * MIB == image.stat().st_size
    assert grown.free_bytes > before.free_bytes + 90 * MIB
    shrunk = shrink_to_content(image, free_bytes=8 * MIB)
    assert image.stat().st_size == shrunk.size_bytes < before.size_bytes
    assert shrunk.free_bytes >= 8 * MIB
    assert fsck(image, fix=False) is FsckResult.CLEAN
    cat = proc.run(["debugfs", "-R", "cat /dir19/file99.txt", image])
    assert cat.stdout == "z" * (50 + 99 * 37)


def test_grow_refuses_to_shrink(tmp_path: Path) -> None:
    tree = _many_small_files(tmp_path / "tree")
    image = tmp_path / "root.ext4"
    make_ext4(tree, image, free_bytes=0)
    size = image.stat().st_size
    with pytest.raises(InvalidArgument, match="cannot grow"):
        grow(image, size - 4096)
    assert image.stat().st_size == size


def test_is_ext4_reads_the_superblock(tmp_path: Path) -> None:
    ext2 = tmp_path / "fs.ext2"
    proc.run(["mke2fs", "-q", "-F", "-t", "ext2", ext2, "8M"])
    assert not is_ext4(ext2)  # right magic, but no journal or extents
    ext4 = tmp_path / "fs.ext4"
    proc.run(["mke2fs", "-q", "-F", "-t", "ext4", ext4, "8M"])
    assert is_ext4(ext4)
    noise = tmp_path / "noise"
    noise.write_bytes(random.Random(1).randbytes(8192))
    assert not is_ext4(noise)
    short = tmp_path / "short"
    short.write_bytes(b"\0" * 1100)
    assert not is_ext4(short)
    assert not is_ext4(tmp_path / "missing")
    assert not is_ext4(tmp_path)


def test_ext4_info_names_a_missing_image(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=str(tmp_path / "nope.ext4")):
        ext4_info(tmp_path / "nope.ext4")


def test_owner_and_setuid_survive(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a root-owned setuid file")
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    tool = tree / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    os.chown(tool, 0, 0)
    os.chmod(tool, 0o4755)
    other = tree / "bin" / "owned"
    other.write_bytes(b"x")
    os.chown(other, 1234, 5678)
    image = tmp_path / "root.ext4"
    make_ext4(tree, image, free_bytes=0)
    stat_tool = proc.run(["debugfs", "-R", "stat /bin/tool", image]).stdout
    assert "Mode:  04755" in stat_tool
    stat_other = proc.run(["debugfs", "-R", "stat /bin/owned", image]).stdout
    assert "User:  1234   Group:  5678" in stat_other
