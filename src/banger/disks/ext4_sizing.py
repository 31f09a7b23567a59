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

The per-inode rules (file_blocks, dir_blocks, symlink_blocks, xattr_blocks) and the
arithmetic are the only ones in banger: `oci.ext4` applies them to an image tree held in
memory, measure_tree to a directory on disk.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from banger.errors import InvalidArgument

BLOCK_SIZE = 4096
INODE_SIZE = 256
MIB = 1024 * 1024
BLOCKS_PER_GROUP = 8 * BLOCK_SIZE  # one block bitmap block covers a group
GROUP_DESC_SIZE = 64  # 64bit feature
FIRST_NON_RESERVED_INODE = 11
# Inodes granted per byte of requested free space: mke2fs's own default inode_ratio.
FREE_SPACE_BYTES_PER_INODE = 16384
# An inode's i_block holds 4 extents of up to 32768 blocks each; more needs a tree block
# (each holding 340 extents).
INLINE_EXTENTS = 4
MAX_EXTENT_BLOCKS = 32768
EXTENTS_PER_BLOCK = 340
# 256-byte inodes keep ~100 bytes of xattrs in the inode; each entry costs its name and
# value plus a 16-byte header, padded (20 is the rounded-up cost).
IN_INODE_XATTR_BYTES = 96
XATTR_ENTRY_OVERHEAD = 20
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


def file_blocks(stored_bytes: int, segments: int = 1) -> int:
    """Blocks a regular file takes: its data, plus extent-tree blocks when it needs more
    extents than the four its inode holds.

    `stored_bytes` is the data actually written (mke2fs keeps holes) and `segments` how
    many separate data runs it has: each run needs its own extent and, unaligned, may
    straddle one block more than its length.
    """
    data = _blocks(stored_bytes) + (segments if segments > 1 else 0)
    extents = max(segments, -(-data // MAX_EXTENT_BLOCKS))
    if extents <= INLINE_EXTENTS:
        return data
    return data + -(-extents // EXTENTS_PER_BLOCK)


def dir_blocks(names: Iterable[str]) -> int:
    """Blocks of a directory holding `names` (besides "." and "..")."""
    dir_bytes = 12 + 12 + sum(_dirent_bytes(name) for name in names)
    if dir_bytes <= BLOCK_SIZE:
        return 1
    # htree: one dx_root block plus leaves that split at partial fill.
    return 1 + math.ceil(dir_bytes / (BLOCK_SIZE * DIR_FILL_FACTOR))


def symlink_blocks(target_bytes: int) -> int:
    """A symlink target too long for the inode ("slow" symlink) takes one block."""
    return 1 if target_bytes > FAST_SYMLINK_MAX else 0


def xattr_blocks(xattrs: Mapping[str, bytes]) -> int:
    """Extended attributes that do not fit in the inode's spare bytes take one block."""
    used = sum(len(name) + len(value) + XATTR_ENTRY_OVERHEAD for name, value in xattrs.items())
    return 1 if used > IN_INODE_XATTR_BYTES else 0


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
        names: list[str] = []
        with os.scandir(directory) as it:
            for entry in it:
                names.append(entry.name)
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
                    data_blocks += file_blocks(st.st_size)
                elif stat.S_ISLNK(st.st_mode):
                    data_blocks += symlink_blocks(st.st_size)
        data_blocks += dir_blocks(names)
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


def size_for_request(usage: TreeUsage, size_bytes: int) -> Ext4Size:
    """The shape of an image of the size a user asked for, refused below what `usage` needs.

    Inodes follow mke2fs's default ratio for that size, never fewer than the content needs.
    """
    minimum = size_for_usage(usage, free_bytes=0)
    if size_bytes < minimum.bytes:
        raise InvalidArgument(
            f"requested size {size_bytes} bytes is below the {minimum.bytes} bytes "
            "the content needs",
            hint=f"pass a size of at least {-(-minimum.bytes // MIB)} MiB, or omit it",
        )
    by_ratio = min(size_bytes // FREE_SPACE_BYTES_PER_INODE, 2**32 - 1)
    return Ext4Size(
        bytes=size_bytes // BLOCK_SIZE * BLOCK_SIZE, inodes=max(minimum.inodes, by_ratio)
    )


def estimate_size(tree: Path, *, free_bytes: int, free_inodes_pct: int = 10) -> Ext4Size:
    """Bytes and inode count of an ext4 image for `tree` with `free_bytes` left free."""
    return size_for_usage(
        measure_tree(tree), free_bytes=free_bytes, free_inodes_pct=free_inodes_pct
    )
