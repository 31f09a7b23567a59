"""Materialize an ImageTree's dirs, files and symlinks under a staging directory for mke2fs.

Every step goes through directory file descriptors opened with O_NOFOLLOW on directories
this module itself created, so no name from the image is ever resolved through a symlink
on the host. The walk is iterative and holds one directory fd at a time (it climbs back
with "..", which in this private tree is always the directory it came from), so neither
Python's recursion limit nor RLIMIT_NOFILE bounds how deep an image may nest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from banger.oci import host_meta
from banger.oci.tree import Child, ImageTree, Inode, Kind

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class HostApplied:
    """Owner, mode, times and xattrs were set on every staged inode except the root's.

    Only the exceptions are stored (a million empty sets would cost ~200 MiB): `refused`
    maps id(inode) to xattr names the host would not take, which debugfs must still set.
    """

    refused: dict[int, set[str]] = field(default_factory=dict)

    def covers(self, tree: ImageTree, inode: Inode) -> bool:
        return inode is not tree.root and inode.kind in (Kind.FILE, Kind.DIR, Kind.SYMLINK)


def materialize(tree: ImageTree, staging: Path, *, metadata_on_host: bool) -> HostApplied | None:
    """Create dirs, files (hard-linked from content files) and symlinks under staging.

    With metadata_on_host (only as root), owner, mode, times and xattrs are set on the
    staged inodes themselves, which `mke2fs -d` copies; that spares one debugfs command
    per field per inode. Devices and FIFOs are created by debugfs inside the image only.
    """
    host = HostApplied() if metadata_on_host else None
    done: set[int] = set()  # hard-linked files whose metadata is already set
    fd = os.open(staging, _DIR_FLAGS)
    levels: list[tuple[Inode, Iterator[tuple[str, Child]]]] = [
        (tree.root, iter((tree.root.children or {}).items()))
    ]
    try:
        while levels:
            directory, entries = levels[-1]
            item = next(entries, None)
            if item is None:  # this directory is complete: set its metadata, climb back
                levels.pop()
                if levels:
                    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
                    try:
                        if host is not None:
                            # After the children: creating them would change its mtime.
                            _note(host, directory, host_meta.apply_to_fd(fd, directory))
                    finally:
                        os.close(fd)
                        fd = parent
                continue
            name, child = item
            inode = child.inode
            if inode.kind is Kind.DIR:
                os.mkdir(name, 0o700, dir_fd=fd)
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = sub
                levels.append((inode, iter((inode.children or {}).items())))
                continue
            if inode.kind is Kind.FILE:
                assert inode.content is not None
                os.link(inode.content, name, dst_dir_fd=fd, follow_symlinks=False)
            elif inode.kind is Kind.SYMLINK:
                os.symlink(inode.target, name, dir_fd=fd)
            else:
                continue
            if host is None or id(inode) in done:
                continue
            if inode.links > 1:
                done.add(id(inode))
            if inode.kind is Kind.FILE:
                _note(host, inode, host_meta.apply_to_file(fd, name, inode))
            else:
                _note(host, inode, host_meta.apply_to_symlink(fd, name, inode))
    finally:
        os.close(fd)
    return host


def _note(host: HostApplied, inode: Inode, refused: set[str]) -> None:
    if refused:
        host.refused[id(inode)] = refused
