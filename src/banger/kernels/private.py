"""Reading import inputs and writing an imported kernel's files, privately.

Inputs are read only as regular files on ordinary filesystems (hostread.open_regular),
and only within a tree when they come from one. What banger writes for a kernel is the
daemon's alone: directories 0700, files 0600; the daemon serves it through its API.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from banger.errors import InvalidArgument
from banger.hostfiles.refusals import banger_error
from banger.hostfiles.safeopen import HostInputError, open_regular

_CHUNK = 1 << 20


def open_input(path: Path, what: str) -> int:
    """hostread.open_regular with its refusals as banger errors."""
    try:
        return open_regular(str(path), what)
    except HostInputError as err:
        raise banger_error(err.code, err.message, err.hint) from None


def _too_big(path: Path, what: str, limit: int) -> InvalidArgument:
    return InvalidArgument(
        f"{what} {path} is larger than {limit >> 20} MiB", hint="check you passed the right file"
    )


def read_regular(path: Path, what: str, limit: int) -> bytes:
    """The contents of regular file `path`, at most `limit` bytes."""
    with os.fdopen(open_input(path, what), "rb") as source:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise _too_big(path, what, limit)
    return data


def copy_regular(path: Path, dest: Path, what: str, limit: int) -> None:
    """Copy regular file `path` to new file `dest` (0600), at most `limit` bytes."""
    with os.fdopen(open_input(path, what), "rb") as source:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            copied = 0
            while chunk := source.read(_CHUNK):
                copied += len(chunk)
                if copied > limit:
                    raise _too_big(path, what, limit)
                out.write(chunk)


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def make_private_dir(path: Path) -> None:
    """mkdir 0700 (chmod too: a umask cannot widen it, but say what we mean)."""
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)


def inside(tree: Path, path: Path) -> bool:
    """Whether `path`, symlinks resolved, stays within `tree`."""
    top = os.path.realpath(tree)
    return os.path.realpath(path).startswith(top.rstrip("/") + "/")


def lock_down(tree: Path) -> None:
    """Directories 0700, files 0600, owned by whoever writes them (the daemon: root).

    Tools banger runs inside the tree (depmod) create files by their own umask; this last
    pass makes the whole kernel directory the daemon's alone, whatever they did.
    """
    os.chmod(tree, 0o700)
    for current, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = Path(current) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                os.chmod(path, 0o700)
            elif stat.S_ISREG(mode):
                os.chmod(path, 0o600)
            else:  # banger itself writes nothing else; never let anything else through
                path.unlink()
