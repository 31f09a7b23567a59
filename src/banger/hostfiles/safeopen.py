"""Open a host file safely: a regular file on an ordinary filesystem, or a clear refusal.

The one place banger decides what a path handed in by a user may be. It runs in two
places: inside bangerd (checks on fds it holds) and inside the short-lived child that
reads *as the caller* (hostfiles/child.py, kernels/hostread.py), shipped to that child as
source (hostfiles/program.py). Hence: the standard library only, and no banger imports.

Refused, whoever reads: anything but a regular file (a FIFO would block forever, a device
has side effects), and files on kernel pseudo-filesystems (procfs, sysfs, debugfs, ...),
whose contents depend on the reader's privileges rather than on the mode bits.
"""

from __future__ import annotations

import ctypes
import os
import stat

TMPFS_MAGIC = 0x01021994
# statfs f_type of the kernel's pseudo-filesystems (linux/magic.h).
PSEUDO_FILESYSTEMS = {
    0x9FA0: "procfs",
    0x62656572: "sysfs",
    0x64626720: "debugfs",
    0x74726163: "tracefs",
    0x73636673: "securityfs",
    0x62656570: "configfs",
    0x0027E0EB: "cgroupfs",
    0x63677270: "cgroup2fs",
    0xCAFE4A11: "bpffs",
    0xDE5E81E4: "efivarfs",
    0x6165676C: "pstorefs",
    0xF97CFF8C: "selinuxfs",
    0x43415D53: "smackfs",
    0x42494E4D: "binfmt_misc",
    0x00001CD1: "devpts",
    0x19800202: "mqueue",
    0x6E736673: "nsfs",
    0x65735543: "fusectl",
}
# devtmpfs reports tmpfs's magic: only the mount table tells them apart.
PSEUDO_FSTYPES = {"devtmpfs", *PSEUDO_FILESYSTEMS.values()}


class HostInputError(Exception):
    """One refused input: a banger error code, a one-line message and a hint."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def kind_of(mode: int) -> str:
    kinds = {
        stat.S_IFIFO: "a FIFO",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFSOCK: "a socket",
        stat.S_IFDIR: "a directory",
        stat.S_IFLNK: "a symlink",
    }
    return kinds.get(stat.S_IFMT(mode), "a special file")


def _f_type(fd: int) -> int | None:
    """statfs(2) f_type of the filesystem holding fd (the first field of struct statfs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(256)  # larger than struct statfs on any Linux
    if libc.fstatfs(fd, buffer) != 0:
        return None
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def mount_fstype(dev: int, mountinfo: str) -> str | None:
    """The filesystem type of the mount whose device is `dev`, from /proc/self/mountinfo."""
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 7 and fields[2] == wanted and "-" in fields[6:]:
            return fields[fields.index("-", 6) + 1]
    return None


def pseudo_filesystem(fd: int) -> str | None:
    """The name of the pseudo-filesystem holding fd, or None for an ordinary one."""
    f_type = _f_type(fd)
    if f_type in PSEUDO_FILESYSTEMS:
        return PSEUDO_FILESYSTEMS[f_type]
    if f_type == TMPFS_MAGIC:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
                fstype = mount_fstype(os.fstat(fd).st_dev, table.read())
        except OSError:
            fstype = None
        if fstype in PSEUDO_FSTYPES:
            return fstype
    return None


def refuse_special(path: str, what: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise HostInputError(
            "invalid_argument",
            f"{what} {path} is {kind_of(mode)}, not a regular file",
            "pass a regular file (not a FIFO, device, socket or directory)",
        )


def os_error(path: str, what: str, exc: OSError) -> HostInputError:
    if isinstance(exc, FileNotFoundError):
        return HostInputError("not_found", f"{what} {path} does not exist", "check the path")
    if isinstance(exc, PermissionError):
        return HostInputError(
            "permission_denied",
            f"{what} {path}: uid {os.geteuid()} may not read it",
            "use a file your user can read",
        )
    return HostInputError("invalid_argument", f"{what} {path}: {exc.strerror}", "check the path")


def check_open(fd: int, path: str, what: str) -> None:
    """Refuse an open fd unless it is a regular file on an ordinary filesystem (what
    counts is the fd: a path can be swapped, the open file cannot)."""
    refuse_special(path, what, os.fstat(fd).st_mode)
    filesystem = pseudo_filesystem(fd)
    if filesystem is not None:
        raise HostInputError(
            "invalid_argument",
            f"{what} {path} is on {filesystem}, whose contents depend on who reads them",
            "copy the file to an ordinary filesystem first",
        )


FUSE_MAGIC = 0x65735546


def refuse_user_served(fd: int, path: str, what: str) -> None:
    """Refuse a file on FUSE: its server is some user's program, which can stall every
    read forever. Only the daemon needs this (a child that blocks is killed on timeout;
    a daemon thread blocked in read() cannot be)."""
    if _f_type(fd) == FUSE_MAGIC:
        raise HostInputError(
            "invalid_argument",
            f"{what} {path} is on a FUSE filesystem, which the daemon does not read from",
            "copy the file to a local filesystem first",
        )


def open_regular(path: str, what: str) -> int:
    """An O_RDONLY fd of `path` (symlinks followed), refused unless it is a regular file on
    an ordinary filesystem. stat first, so a FIFO or a device is never even opened; the
    fstat of the open fd is what counts, O_NONBLOCK covers a swap in between."""
    try:
        refuse_special(path, what, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise os_error(path, what, exc) from None
    try:
        check_open(fd, path, what)
    except BaseException:
        os.close(fd)
        raise
    return fd
