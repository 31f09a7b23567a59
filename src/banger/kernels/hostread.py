"""Read kernel inputs from the host safely: regular files on ordinary filesystems only.

Two users. bangerd imports `open_regular` and `locate_parts` to read its own private
copies. And this very file is the program bangerd runs *as the caller* (their uid, gid and
groups; see kernels/caller.py) to copy the paths a caller handed in: the kernel decides
what the caller may read, at the moment of reading, symlinks included. Because it is fed
to a bare `python -I -S -` on stdin, it imports nothing but the standard library and
hostfiles/safeopen.py (shipped along as source).

What is refused (special files, pseudo-filesystems) is decided in hostfiles/safeopen.py,
shipped to the child with this file (hostfiles/program.py).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tarfile
from dataclasses import dataclass

from banger.hostfiles.safeopen import (
    PSEUDO_FILESYSTEMS,
    HostInputError,
    mount_fstype,
    open_regular,
    os_error,
    pseudo_filesystem,
)

EXIT_REFUSED = 3
OUTPUT = "input.tar"
__all__ = [
    "EXIT_REFUSED",
    "OUTPUT",
    "PSEUDO_FILESYSTEMS",
    "HostInputError",
    "locate_parts",
    "main",
    "mount_fstype",
    "open_regular",
    "pseudo_filesystem",
]


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
        raise os_error(boot, "kernel tree", exc) from None
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
        raise os_error(top, what, exc) from None
    if not is_dir:
        raise HostInputError(
            "invalid_argument", f"{what} {top} is not a directory", "check the path"
        )

    def fail(exc: OSError) -> None:
        raise os_error(exc.filename or top, what, exc)

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
        raise os_error(path, what, exc) from None
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
