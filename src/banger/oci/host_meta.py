"""Set an image inode's owner, mode, times and xattrs on its staged host inode (as root).

`mke2fs -d` copies uid/gid/mode/atime/mtime and xattrs from the staging tree, so setting
them here spares a debugfs batch of ~6 commands per inode. Only names this builder just
created in directories it owns are touched, through directory fds, never following a
symlink. Order matters: chown clears setuid/setgid and security.capability, so it comes
first; utime comes last. An xattr the host refuses (e.g. user.* on a symlink, a
filesystem without that namespace) is returned so the caller sets it with debugfs.
"""

from __future__ import annotations

import os

from banger.oci.tree import Inode

# system.* (POSIX ACLs) would rewrite the host mode when set: leave those to debugfs.
_HOST_XATTR_PREFIXES = ("user.", "trusted.", "security.")


def _times(inode: Inode) -> tuple[int, int]:
    # Same clamp as the debugfs route, so both routes give identical images.
    stamp = max(inode.mtime, 0) * 1_000_000_000
    return stamp, stamp


def _set_xattrs(fd: int, inode: Inode) -> set[str]:
    refused: set[str] = set()
    for name, value in inode.xattrs.items():
        if not name.startswith(_HOST_XATTR_PREFIXES):
            refused.add(name)
            continue
        try:
            os.setxattr(fd, name, value)
        except OSError:
            refused.add(name)
    return refused


def apply_to_fd(fd: int, inode: Inode) -> set[str]:
    """Apply everything to an open directory or file; returns xattr names left for debugfs."""
    os.fchown(fd, inode.uid, inode.gid)
    os.fchmod(fd, inode.mode)
    refused = _set_xattrs(fd, inode)
    os.utime(fd, ns=_times(inode))
    return refused


def apply_to_file(dir_fd: int, name: str, inode: Inode) -> set[str]:
    """Apply to the regular file `name` just created in dir_fd."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        return apply_to_fd(fd, inode)
    finally:
        os.close(fd)


def apply_to_symlink(dir_fd: int, name: str, inode: Inode) -> set[str]:
    """Owner and times of a symlink itself; its mode and xattrs are left to debugfs."""
    os.chown(name, inode.uid, inode.gid, dir_fd=dir_fd, follow_symlinks=False)
    os.utime(name, ns=_times(inode), dir_fd=dir_fd, follow_symlinks=False)
    return set(inode.xattrs)
