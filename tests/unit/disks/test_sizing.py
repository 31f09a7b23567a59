"""Sizing arithmetic and tree measurement, without building images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from banger.disks.ext4_sizing import (
    BLOCK_SIZE,
    FIRST_NON_RESERVED_INODE,
    FREE_SPACE_BYTES_PER_INODE,
    TreeUsage,
    _is_backup_group,
    default_journal_blocks,
    measure_tree,
    metadata_blocks,
    size_for_usage,
)
from banger.errors import InvalidArgument

MIB = 1024 * 1024


def test_journal_size_follows_mke2fs_thresholds() -> None:
    assert default_journal_blocks(1000) == 0
    assert default_journal_blocks(32767) == 1024
    assert default_journal_blocks(32768) == 4096
    assert default_journal_blocks(600 * 1024) == 16384
    assert default_journal_blocks(10**9) == 262144


def test_sparse_super_backup_groups() -> None:
    backups = [g for g in range(60) if _is_backup_group(g)]
    assert backups == [0, 1, 3, 5, 7, 9, 25, 27, 49]


def test_metadata_grows_with_inodes_and_size() -> None:
    small = metadata_blocks(100_000, 10_000)
    assert metadata_blocks(100_000, 50_000) > small
    assert metadata_blocks(1_000_000, 10_000) > small
    # 50,000 more inodes cost their 256-byte inode table entries (give or take the
    # per-group rounding to whole inode-table blocks).
    extra = metadata_blocks(100_000, 60_000) - small
    assert abs(extra - 50_000 * 256 // BLOCK_SIZE) <= 4


def test_free_space_is_added_on_top_of_content() -> None:
    usage = TreeUsage(data_blocks=50_000, entries=8_000)
    bare = size_for_usage(usage, free_bytes=0)
    roomy = size_for_usage(usage, free_bytes=512 * MIB)
    assert roomy.bytes - bare.bytes >= 512 * MIB
    assert bare.bytes >= 50_000 * BLOCK_SIZE
    assert bare.bytes % BLOCK_SIZE == 0


def test_inodes_cover_entries_headroom_and_free_space() -> None:
    usage = TreeUsage(data_blocks=1_000, entries=1_000)
    size = size_for_usage(usage, free_bytes=64 * MIB, free_inodes_pct=20)
    expected = FIRST_NON_RESERVED_INODE + 1_200 + 64 * MIB // FREE_SPACE_BYTES_PER_INODE
    assert size.inodes == expected


def test_negative_free_space_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="must not be negative"):
        size_for_usage(TreeUsage(1, 1), free_bytes=-1)


def test_measure_tree_counts_blocks_links_and_symlinks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "one-byte").write_bytes(b"x")  # 1 block
    (tree / "just-over").write_bytes(b"y" * (BLOCK_SIZE + 1))  # 2 blocks
    (tree / "empty").write_bytes(b"")  # 0 blocks
    os.link(tree / "one-byte", tree / "sub" / "hardlink")  # same inode: not counted again
    (tree / "fast").symlink_to("short")  # stored in the inode
    (tree / "slow").symlink_to("t" * 100)  # needs a block
    usage = measure_tree(tree)
    # inodes: root, sub, one-byte, just-over, empty, fast, slow
    assert usage.entries == 7
    # data: 1 + 2 + 0 + slow symlink 1 + one block for each of the two directories
    assert usage.data_blocks == 1 + 2 + 1 + 2


def test_measure_tree_sizes_large_directories(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(1000):
        (tree / f"a-rather-long-file-name-number-{i:05d}").touch()
    usage = measure_tree(tree)
    entry_bytes = 1000 * (8 + 36)
    assert usage.data_blocks >= entry_bytes // BLOCK_SIZE + 1
    assert usage.entries == 1001


def test_measure_tree_requires_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        measure_tree(tmp_path / "file")
