"""Copy a caller's file or directory into daemon-owned storage, reading it as the caller.

The entries arrive from hostfiles/receive.py already opened by the caller; this writes
them below a new path the daemon alone controls. Names were checked to be relative
without `..`; on top of that every entry's parent must be a directory this copy created
itself, so a symlink received earlier can never be written through.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from banger.disks.clone import copy_range
from banger.errors import InvalidArgument, Unavailable
from banger.hostfiles.credentials import Caller
from banger.hostfiles.receive import Entry, Limits, Wanted, read_as_caller

_CHUNK = 8 << 20
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_fd(src_fd: int, dst_fd: int, limit: int, what: str) -> int:
    """Copy src_fd (from its start) to dst_fd; refuse more than `limit` bytes."""
    copied = 0
    while True:
        done = copy_range(src_fd, dst_fd, copied, _CHUNK)
        if done == 0:
            return copied
        copied += done
        if copied > limit:
            raise InvalidArgument(
                f"{what} is larger than {limit >> 20} MiB", hint="pass a smaller one"
            )


@dataclass
class _Writer:
    dest: Path
    what: str
    keep_modes: bool
    bytes_left: int
    dirs: dict[str, int] = field(default_factory=dict)  # created dirs → mode to apply last

    def __call__(self, entry: Entry) -> None:
        parent = os.path.dirname(entry.name)
        if entry.name and parent not in self.dirs:
            raise Unavailable(
                f"{self.what}: {entry.name} arrived before its directory", hint="retry the request"
            )
        target = self.dest / entry.name if entry.name else self.dest
        if entry.kind == "dir":
            target.mkdir(mode=0o700)
            self.dirs[entry.name] = entry.mode & 0o1777 if self.keep_modes else 0o700
        elif entry.kind == "symlink":
            os.symlink(entry.target, target)
        else:
            self._file(entry, target)

    def _file(self, entry: Entry, target: Path) -> None:
        mode = entry.mode & 0o777 if self.keep_modes else 0o600
        out = os.open(target, _CREATE, 0o600)
        try:
            self.bytes_left -= copy_fd(entry.fd, out, self.bytes_left, self.what)
            os.fchmod(out, mode)
        finally:
            os.close(out)

    def finish(self) -> None:
        """Directory modes last, deepest first: a 0555 directory must be filled first."""
        for name in sorted(self.dirs, key=len, reverse=True):
            os.chmod(self.dest / name if name else self.dest, self.dirs[name])


def copy_in(
    caller: Caller,
    wanted: Wanted,
    dest: Path,
    *,
    keep_modes: bool,
    max_bytes: int,
    limits: Limits | None = None,
) -> None:
    """Copy the file or directory `wanted` names, read as `caller`, to the new path `dest`
    (its parent must exist). keep_modes: permission bits as the caller's (else 0600 files,
    0700 directories). Nothing is left at `dest` on failure."""
    writer = _Writer(dest, wanted.what, keep_modes, max_bytes)
    try:
        read_as_caller(caller, [wanted], writer, limits)
        writer.finish()
    except BaseException:
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest, ignore_errors=True)
        else:
            dest.unlink(missing_ok=True)
        raise


def fetcher(caller: Caller, what: str, max_bytes: int) -> Callable[[Path, Path], None]:
    """copy_in as a function of (host path, new path): a file or a directory, symlinks
    kept as links and permission bits kept (setuid and setgid dropped). For `image build
    --copy`, whose sources go into the caller's own image."""

    def fetch(src: Path, dest: Path) -> None:
        wanted = Wanted(src, what, tree=True, keep_links=True)
        copy_in(caller, wanted, dest, keep_modes=True, max_bytes=max_bytes)

    return fetch
