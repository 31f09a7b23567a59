"""Turn a replayed ImageTree into an ext4 image without mounting and without host ownership.

Route: regular files, directories and symlinks are materialized in a staging directory
(stage_tree; file data is hard-linked from the numbered content files, so nothing is
copied twice),
`mke2fs -d` copies them in, then ONE `debugfs -w -f` batch sets the rest: device nodes and
FIFOs (which therefore never exist on the host), link counts of hard-linked special files,
and — unless running as root, where host_meta sets them on the staged inodes for mke2fs to
copy — uid/gid, full mode bits, times and xattrs. `e2fsck -fn` checks the result.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from banger import proc
from banger.disks import debugfs
from banger.disks.ext4 import fsck
from banger.disks.ext4_sizing import (
    BLOCK_SIZE,
    INODE_SIZE,
    TreeUsage,
    dir_blocks,
    file_blocks,
    size_for_request,
    size_for_usage,
    symlink_blocks,
    xattr_blocks,
)
from banger.oci.stage_tree import HostApplied, materialize
from banger.oci.tree import ImageTree, Kind

_TYPE_BITS = {
    Kind.FILE: stat.S_IFREG,
    Kind.DIR: stat.S_IFDIR,
    Kind.SYMLINK: stat.S_IFLNK,
    Kind.CHAR: stat.S_IFCHR,
    Kind.BLOCK: stat.S_IFBLK,
    Kind.FIFO: stat.S_IFIFO,
}


def tree_usage(tree: ImageTree) -> TreeUsage:
    """Blocks and inodes the merged content needs, by ext4_sizing's rules (hard links once)."""
    seen: set[int] = set()  # only inodes with several names: the rest are met once
    blocks = 0
    inodes = 0
    for _path, inode in tree.walk():
        if inode.links > 1:
            if id(inode) in seen:
                continue
            seen.add(id(inode))
        inodes += 1
        if inode.kind is Kind.FILE:
            # Holes of a sparse file take no blocks (mke2fs -d keeps them).
            blocks += file_blocks(inode.stored, inode.segments)
        elif inode.kind is Kind.DIR:
            blocks += dir_blocks(inode.children or {})
        elif inode.kind is Kind.SYMLINK:
            blocks += symlink_blocks(len(inode.target.encode("utf-8", "surrogateescape")))
        blocks += xattr_blocks(inode.xattrs)
    return TreeUsage(data_blocks=blocks, entries=inodes)


def plan_size(tree: ImageTree, free_bytes: int, size_bytes: int | None) -> tuple[int, int]:
    """(filesystem bytes, inode count); refuses a requested size below what the content needs."""
    usage = tree_usage(tree)
    if size_bytes is not None:
        size = size_for_request(usage, size_bytes)
    else:
        size = size_for_usage(usage, free_bytes=free_bytes)
    return size.bytes, size.inodes


def _quote(path: str) -> bytes:
    """debugfs argument quoting: wrap in double quotes, double any embedded quote."""
    return b'"' + os.fsencode(path).replace(b'"', b'""') + b'"'


def debugfs_script(tree: ImageTree, xattr_dir: Path, applied: HostApplied | None = None) -> bytes:
    """The fix-up batch as bytes (see write_debugfs_script)."""
    out = io.BytesIO()
    write_debugfs_script(tree, out, xattr_dir, applied)
    return out.getvalue()


def write_debugfs_script(
    tree: ImageTree, out: BinaryIO, xattr_dir: Path, applied: HostApplied | None = None
) -> None:
    """Write the fix-up batch: special inodes, and metadata the staged host inodes lack.

    Inodes `applied` covers already carry owner/mode/times: for those only refused xattrs
    and a symlink's non-default mode are emitted. Written line by line and remembering
    only multiply-linked inodes, so a million entries never sit in memory as a script.
    """
    first_path: dict[int, str] = {}  # inodes with several names: the first one written
    special_names: dict[int, int] = {}  # hard-linked devices/FIFOs: how many names
    xattr_files = 0
    for path, inode in tree.walk():
        key = id(inode)
        linked = inode.links > 1
        abs_path = "/" + path
        if inode.kind in (Kind.CHAR, Kind.BLOCK, Kind.FIFO):
            parent, _, name = abs_path.rpartition("/")
            out.write(b"cd " + _quote(parent or "/") + b"\n")
            if key in first_path:
                out.write(b"ln " + _quote("/" + first_path[key]) + b" " + _quote(name) + b"\n")
            elif inode.kind is Kind.FIFO:
                out.write(b"mknod " + _quote(name) + b" p\n")
            else:
                kind = b"c" if inode.kind is Kind.CHAR else b"b"
                out.write(b"mknod %s %s %d %d\n" % (_quote(name), kind, inode.major, inode.minor))
            out.write(b"cd /\n")
            if linked:
                special_names[key] = special_names.get(key, 0) + 1
        if linked:
            if key in first_path:
                continue
            first_path[key] = path
        target = _quote(abs_path)
        mode = _TYPE_BITS[inode.kind] | inode.mode
        pending_xattrs: Iterable[str] = sorted(inode.xattrs)
        if applied is not None and applied.covers(tree, inode):
            pending_xattrs = sorted(applied.refused.get(key, ()))
            if inode.kind is Kind.SYMLINK and inode.mode != 0o777:
                out.write(b"sif %s mode 0%o\n" % (target, mode))
        else:
            out.write(b"sif %s uid %d\n" % (target, inode.uid))
            out.write(b"sif %s gid %d\n" % (target, inode.gid))
            out.write(b"sif %s mode 0%o\n" % (target, mode))
            for field in (b"mtime", b"atime", b"ctime"):
                out.write(b"sif %s %s @%d\n" % (target, field, max(inode.mtime, 0)))
        for name in pending_xattrs:
            value_file = xattr_dir / str(xattr_files)
            xattr_files += 1
            value_file.write_bytes(inode.xattrs[name])
            out.write(b"ea_set -f %s %s %s\n" % (os.fsencode(value_file), target, name.encode()))
    for key, count in special_names.items():
        if count > 1:
            out.write(b"sif %s links_count %d\n" % (_quote("/" + first_path[key]), count))


def build_ext4(
    tree: ImageTree,
    *,
    staging: Path,
    scratch: Path,
    out_tmp: Path,
    size: int,
    inode_count: int,
    metadata_on_host: bool | None = None,
) -> None:
    """Build the ext4 at out_tmp (caller renames it into place and removes it on failure).

    metadata_on_host: set owners/modes/times/xattrs on the staged inodes (needs root);
    None picks it when running as root. Either route yields the same image metadata.
    """
    if metadata_on_host is None:
        metadata_on_host = os.geteuid() == 0
    applied = materialize(tree, staging, metadata_on_host=metadata_on_host)
    with open(out_tmp, "wb") as handle:
        handle.truncate(size)
    proc.run(
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            str(BLOCK_SIZE),
            "-I",
            str(INODE_SIZE),
            "-N",
            str(inode_count),
            "-m",
            "0",
            "-E",
            # Lazy init skips zeroing inode tables and the journal: the file is a fresh
            # sparse one, so they already read as zeros (the journal itself is kept).
            "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
            "-d",
            staging,
            out_tmp,
        ],
        hint="the image may not fit: pass a larger size",
    )
    xattr_dir = scratch / "xattrs"
    xattr_dir.mkdir()
    script = scratch / "fixup.debugfs"
    with open(script, "wb") as handle:
        write_debugfs_script(tree, handle, xattr_dir, applied)
    debugfs.run_script(
        out_tmp, script, hint="this is a banger bug; please report it with the image reference"
    )
    fsck(out_tmp, fix=False)
