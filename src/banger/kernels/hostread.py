"""Read kernel inputs from the host safely: regular files on ordinary filesystems only.

Two users. bangerd imports `open_regular` and `locate_parts` to read its own private
copies. And this very file is the program bangerd runs *as the caller* (their uid, gid and
groups; see kernels/caller.py) to copy the paths a caller handed in: the kernel decides
what the caller may read, at the moment of reading, symlinks included. Because it is fed
to a bare `python -I -S -` on stdin, it imports nothing but the standard library.

Refused, whoever reads: anything but a regular file (a FIFO would block forever, a device
has side effects), and files on kernel pseudo-filesystems (procfs, sysfs, debugfs, ...),
whose contents depend on the reader's privileges rather than on the mode bits.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import stat
import sys
import tarfile
from dataclasses import dataclass

EXIT_REFUSED = 3
OUTPUT = "input.tar"
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


def _kind(mode: int) -> str:
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


def _refuse_special(path: str, what: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise HostInputError(
            "invalid_argument",
            f"{what} {path} is {_kind(mode)}, not a regular file",
            "pass the kernel file, package or tree itself",
        )


def _os_error(path: str, what: str, exc: OSError) -> HostInputError:
    if isinstance(exc, FileNotFoundError):
        return HostInputError("not_found", f"{what} {path} does not exist", "check the path")
    if isinstance(exc, PermissionError):
        return HostInputError(
            "permission_denied",
            f"{what} {path}: uid {os.geteuid()} may not read it",
            "use a file your user can read",
        )
    return HostInputError("invalid_argument", f"{what} {path}: {exc.strerror}", "check the path")


def open_regular(path: str, what: str) -> int:
    """An O_RDONLY fd of `path` (symlinks followed), refused unless it is a regular file on
    an ordinary filesystem. stat first, so a FIFO or a device is never even opened; the
    fstat of the open fd is what counts, O_NONBLOCK covers a swap in between."""
    try:
        _refuse_special(path, what, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _os_error(path, what, exc) from None
    try:
        _refuse_special(path, what, os.fstat(fd).st_mode)
        filesystem = pseudo_filesystem(fd)
        if filesystem is not None:
            raise HostInputError(
                "invalid_argument",
                f"{what} {path} is on {filesystem}, whose contents depend on who reads them",
                "copy the file to an ordinary filesystem first",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class Parts:
    """Where the pieces of an unpacked kernel tree are (paths as strings)."""

    kernel: str
    version: str
    config: str | None
    modules: str | None


def locate_parts(tree: str) -> Parts:
    """boot/vmlinuz-VERSION (or vmlinux-VERSION), its config and lib/modules/VERSION."""
    boot = os.path.join(tree, "boot")
    try:
        names = sorted(os.listdir(boot))
    except FileNotFoundError:
        names = []
    except OSError as exc:
        raise _os_error(boot, "kernel tree", exc) from None
    kernels = [n for n in names if n.startswith("vmlinuz-")] or [
        n for n in names if n.startswith("vmlinux-")
    ]
    if not kernels:
        raise HostInputError(
            "not_found",
            f"no boot/vmlinuz-* in {tree}",
            "pass a tree unpacked from a kernel package, or the kernel file itself",
        )
    if len(kernels) > 1:
        raise HostInputError(
            "invalid_argument",
            f"{tree} holds several kernels ({', '.join(kernels)})",
            "pass the kernel file you mean",
        )
    version = kernels[0].split("-", 1)[1]
    config = os.path.join(boot, f"config-{version}")
    modules = None
    for base in ("lib/modules", "usr/lib/modules"):
        candidate = os.path.join(tree, base, version)
        if os.path.isdir(candidate):
            modules = candidate
            break
    has_config = os.path.lexists(config)
    return Parts(os.path.join(boot, kernels[0]), version, config if has_config else None, modules)


class _Budget:
    """The caps on what one request may copy: bytes and entries."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.bytes_left, self.entries_left = max_bytes, max_entries

    def take(self, size: int, what: str) -> None:
        self.bytes_left -= size
        self.entries_left -= 1
        if self.bytes_left < 0 or self.entries_left < 0:
            raise HostInputError(
                "invalid_argument",
                f"{what} is larger than a kernel import may be",
                "pass only the kernel, its config and its modules",
            )


def _add_file(tar: tarfile.TarFile, path: str, name: str, what: str, budget: _Budget) -> None:
    fd = open_regular(path, what)
    with os.fdopen(fd, "rb") as source:
        info = tarfile.TarInfo(name)
        info.size = os.fstat(fd).st_size
        info.mode = 0o600
        budget.take(info.size, what)
        try:
            tar.addfile(info, source)
        except OSError as exc:  # tarfile: "unexpected end of data" when it shrank
            raise HostInputError(
                "invalid_argument", f"{what} {path} changed while being read", "retry"
            ) from exc


def _add_tree(tar: tarfile.TarFile, top: str, name: str, what: str, budget: _Budget) -> None:
    """Directories and regular files below `top`. Symlinks to files are read through (as
    the caller); links to directories and dangling links (a modules tree's build and
    source links) are skipped; anything else is refused."""
    try:
        is_dir = stat.S_ISDIR(os.stat(top).st_mode)
    except OSError as exc:
        raise _os_error(top, what, exc) from None
    if not is_dir:
        raise HostInputError(
            "invalid_argument", f"{what} {top} is not a directory", "check the path"
        )

    def fail(exc: OSError) -> None:
        raise _os_error(exc.filename or top, what, exc)

    for current, dirs, files in os.walk(top, onerror=fail):
        rel = os.path.relpath(current, top)
        arc = name if rel == "." else f"{name}/{rel}"
        info = tarfile.TarInfo(arc)
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        budget.take(0, what)
        tar.addfile(info)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(current, d))]
        for entry in sorted(files):
            path = os.path.join(current, entry)
            if os.path.islink(path) and not _target_exists(path):
                continue
            _add_file(tar, path, f"{arc}/{entry}", what, budget)


def _target_exists(link: str) -> bool:
    """False only for a dangling link: any other error is the caller's to see."""
    try:
        os.stat(link)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def _add_source(tar: tarfile.TarFile, path: str, budget: _Budget) -> None:
    """A file goes in as "source"; of a tree only the kernel, its config and its modules."""
    what = "kernel source"
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        raise _os_error(path, what, exc) from None
    if not is_dir:
        _add_file(tar, path, "source", what, budget)
        return
    parts = locate_parts(path)
    boot = "source/boot"
    _add_file(tar, parts.kernel, f"{boot}/{os.path.basename(parts.kernel)}", what, budget)
    if parts.config is not None:
        _add_file(tar, parts.config, f"{boot}/config-{parts.version}", what, budget)
    if parts.modules is not None:
        _add_tree(tar, parts.modules, f"source/lib/modules/{parts.version}", what, budget)


def main(argv: list[str]) -> int:
    """Copy the given inputs into ./input.tar (the caller's private inbox); on a refusal
    print {code, message, hint} as JSON and exit EXIT_REFUSED."""
    parser = argparse.ArgumentParser(prog="banger-read-as-caller")
    parser.add_argument("--max-bytes", type=int, required=True)
    parser.add_argument("--max-entries", type=int, required=True)
    parser.add_argument("--source")
    parser.add_argument("--modules")
    parser.add_argument("--initrd")
    args = parser.parse_args(argv)
    os.umask(0o077)
    budget = _Budget(args.max_bytes, args.max_entries)
    try:
        with tarfile.open(OUTPUT, "x", format=tarfile.PAX_FORMAT) as tar:
            if args.source is not None:
                _add_source(tar, args.source, budget)
            if args.modules is not None:
                _add_tree(tar, args.modules, "modules", "modules directory", budget)
            if args.initrd is not None:
                _add_file(tar, args.initrd, "initrd", "initrd", budget)
    except HostInputError as err:
        print(json.dumps({"code": err.code, "message": err.message, "hint": err.hint}))
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
