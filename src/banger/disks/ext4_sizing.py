"""Content-aware sizing of an ext4 image that `mke2fs -d TREE` will populate.

The estimate mirrors how mke2fs 1.47 lays out a filesystem with 4 KiB blocks, 256-byte
inodes, flex_bg, 64bit and resize_inode (Debian's /etc/mke2fs.conf ext4 defaults), so a
tree fits at the estimate without the "just double it" waste of a loose guess:

- data: every regular file rounded up to whole blocks (hard links counted once; mke2fs
  turns all-zero blocks into holes, so apparent size is an upper bound), one extent-tree
  block for files too big for the four extents an inode holds, directory blocks from the
  size of their entries, one block per symlink target too long for the inode;
- metadata: inode tables, bitmaps, group descriptors and their sparse_super backups with
  the blocks reserved for online growth, the journal mke2fs picks for that size;
- free space: `free_bytes` for the guest, plus inodes for it at mke2fs's default ratio.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from banger.errors import InvalidArgument

BLOCK_SIZE = 4096
INODE_SIZE = 256
BLOCKS_PER_GROUP = 8 * BLOCK_SIZE  # one block bitmap block covers a group
GROUP_DESC_SIZE = 64  # 64bit feature
FIRST_NON_RESERVED_INODE = 11
# Inodes granted per byte of requested free space: mke2fs's own default inode_ratio.
FREE_SPACE_BYTES_PER_INODE = 16384
# An inode's i_block holds 4 extents of up to 32768 blocks each; more needs a tree block.
MAX_INLINE_EXTENT_BLOCKS = 4 * 32768
# Symlink targets shorter than i_block (60 bytes) live inside the inode ("fast" symlinks).
FAST_SYMLINK_MAX = 59
# Linear directory blocks fill only partly once htree splits them; size them 3/4 full.
DIR_FILL_FACTOR = 0.75
LOST_AND_FOUND_BLOCKS = 4  # mke2fs pre-allocates 16 KiB so e2fsck can relink without allocating
# Slack for what is not modelled exactly (xattr blocks, allocator rounding), kept small.
SLACK_FRACTION = 0.01
SLACK_MIN_BLOCKS = 256  # 1 MiB


@dataclass(frozen=True)
class Ext4Size:
    bytes: int
    inodes: int

    @property
    def blocks(self) -> int:
        return self.bytes // BLOCK_SIZE


@dataclass(frozen=True)
class TreeUsage:
    """What a directory tree needs on ext4, before filesystem metadata."""

    data_blocks: int
    entries: int


def _blocks(nbytes: int) -> int:
    return -(-nbytes // BLOCK_SIZE)


def _dirent_bytes(name: str) -> int:
    # ext4_dir_entry_2: 8-byte header + name, padded to 4 bytes.
    return 8 + ((len(os.fsencode(name)) + 3) & ~3)


def measure_tree(tree: Path) -> TreeUsage:
    """Walk `tree` without following symlinks and count the blocks and inodes it needs."""
    if not tree.is_dir():
        raise InvalidArgument(
            f"rootfs tree {tree} is not a directory",
            hint="pass the directory that should become the image's root",
        )
    seen: set[tuple[int, int]] = set()
    data_blocks = 0
    entries = 1  # the root directory itself
    pending = [tree]
    while pending:
        directory = pending.pop()
        dir_bytes = 12 + 12  # "." and ".."
        with os.scandir(directory) as it:
            for entry in it:
                dir_bytes += _dirent_bytes(entry.name)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    entries += 1
                    pending.append(Path(entry.path))
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue  # another name for an inode already counted
                seen.add(key)
                entries += 1
                if stat.S_ISREG(st.st_mode):
                    file_blocks = _blocks(st.st_size)
                    data_blocks += file_blocks
                    if file_blocks > MAX_INLINE_EXTENT_BLOCKS:
                        data_blocks += 1 + file_blocks // (340 * 32768)
                elif stat.S_ISLNK(st.st_mode) and st.st_size > FAST_SYMLINK_MAX:
                    data_blocks += 1
        if dir_bytes <= BLOCK_SIZE:
            data_blocks += 1
        else:
            # htree: one dx_root block plus leaves that split at partial fill.
            data_blocks += 1 + math.ceil(dir_bytes / (BLOCK_SIZE * DIR_FILL_FACTOR))
    return TreeUsage(data_blocks=data_blocks, entries=entries)


def default_journal_blocks(total_blocks: int) -> int:
    """The journal size mke2fs chooses for a filesystem of `total_blocks` 4 KiB blocks."""
    thresholds = [
        (2048, 0),
        (32768, 1024),
        (256 * 1024, 4096),
        (512 * 1024, 8192),
        (4096 * 1024, 16384),
        (8192 * 1024, 32768),
        (16384 * 1024, 65536),
        (32768 * 1024, 131072),
    ]
    for limit, journal in thresholds:
        if total_blocks < limit:
            return journal
    return 262144


def _is_backup_group(group: int) -> bool:
    # sparse_super keeps superblock + descriptor copies in groups 0, 1 and powers of 3, 5, 7.
    if group <= 1:
        return True
    for base in (3, 5, 7):
        n = base
        while n < group:
            n *= base
        if n == group:
            return True
    return False


def metadata_blocks(total_blocks: int, inodes: int) -> int:
    """Blocks mke2fs spends on metadata for a filesystem of the given shape."""
    groups = max(1, -(-total_blocks // BLOCKS_PER_GROUP))
    inodes_per_group = -(-inodes // groups)
    # Inode tables fill whole blocks and bitmaps whole bytes.
    per_block = BLOCK_SIZE // INODE_SIZE
    inodes_per_group = -(-inodes_per_group // per_block) * per_block
    inode_table_blocks = groups * (inodes_per_group * INODE_SIZE // BLOCK_SIZE)
    bitmaps = 2 * groups
    descs_per_block = BLOCK_SIZE // GROUP_DESC_SIZE
    gdt_blocks = -(-groups // descs_per_block)
    # resize_inode reserves descriptor blocks for growth to 1024x (capped at 2^32 blocks).
    growth_groups = -(-min(2**32, total_blocks * 1024) // BLOCKS_PER_GROUP)
    reserved_gdt = min(BLOCK_SIZE // 4, max(0, -(-growth_groups // descs_per_block) - gdt_blocks))
    backups = sum(1 for g in range(groups) if _is_backup_group(g))
    super_and_gdt = backups * (1 + gdt_blocks + reserved_gdt)
    journal = default_journal_blocks(total_blocks)
    return inode_table_blocks + bitmaps + super_and_gdt + journal


def size_for_usage(usage: TreeUsage, *, free_bytes: int, free_inodes_pct: int = 10) -> Ext4Size:
    """Size an image holding `usage` plus `free_bytes` of free space (pure arithmetic)."""
    if free_bytes < 0 or free_inodes_pct < 0:
        raise InvalidArgument(
            f"free space must not be negative (free_bytes={free_bytes}, "
            f"free_inodes_pct={free_inodes_pct})",
            hint="pass 0 or a positive number",
        )
    inodes = (
        FIRST_NON_RESERVED_INODE
        + math.ceil(usage.entries * (1 + free_inodes_pct / 100))
        + free_bytes // FREE_SPACE_BYTES_PER_INODE
    )
    content = usage.data_blocks + LOST_AND_FOUND_BLOCKS + _blocks(free_bytes)
    total = content
    # Metadata depends on the total (group count, journal size): iterate to a fixed point.
    for _ in range(8):
        needed = content + metadata_blocks(total, inodes)
        needed += max(SLACK_MIN_BLOCKS, math.ceil(needed * SLACK_FRACTION))
        if needed <= total:
            break
        total = needed
    return Ext4Size(bytes=total * BLOCK_SIZE, inodes=inodes)


def estimate_size(tree: Path, *, free_bytes: int, free_inodes_pct: int = 10) -> Ext4Size:
    """Bytes and inode count of an ext4 image for `tree` with `free_bytes` left free."""
    return size_for_usage(
        measure_tree(tree), free_bytes=free_bytes, free_inodes_pct=free_inodes_pct
    )
