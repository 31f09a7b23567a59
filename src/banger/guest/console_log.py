"""A guest's serial console log with a bounded size, and readers that survive the bound.

The guest decides how much it prints, and QEMU's chardev (append=on) or Firecracker's
stdout (opened O_APPEND) write it to console.log for as long as the VM runs. `trim` keeps
the file near a cap by dropping its oldest bytes *in place*: fallocate(COLLAPSE_RANGE)
removes whole blocks from the start of the file atomically with respect to the O_APPEND
writer, so no output is lost in the cut and the writer never notices.

Readers (the boot watch, a build's transcript, `vm console`) use *logical* offsets: the
bytes dropped so far are counted in a side file (console.log.dropped), and trim and
`read` hold a flock on console.log while they change or use that count, so a reader's
offset always maps to the right byte of the file. A reader that lags behind a trim is told
how much it missed. On a filesystem without COLLAPSE_RANGE (tmpfs), trim copies the newest
half to console.log.1 and truncates: bytes printed in that instant may be lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

FALLOC_FL_COLLAPSE_RANGE = 0x08
DROPPED_SUFFIX = ".dropped"  # decimal count of bytes cut from the front so far
ROTATED_SUFFIX = ".1"  # the fallback's copy of the newest half before a truncation

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def _side(console: Path, suffix: str) -> Path:
    return console.with_name(console.name + suffix)


def dropped(console: Path) -> int:
    """Bytes trimmed from the front of `console` since it was created."""
    try:
        return int(_side(console, DROPPED_SUFFIX).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _set_dropped(console: Path, count: int) -> None:
    side = _side(console, DROPPED_SUFFIX)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, side)


@contextlib.contextmanager
def _locked(console: Path, mode: int, operation: int) -> Iterator[int]:
    fd = os.open(console, mode | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, operation)
        yield fd
    finally:
        os.close(fd)  # releases the flock


def remove(console: Path) -> None:
    """Delete a console log and its side files (a new boot starts a fresh console)."""
    for path in (console, _side(console, DROPPED_SUFFIX), _side(console, ROTATED_SUFFIX)):
        path.unlink(missing_ok=True)


def _collapse(fd: int, length: int) -> bool:
    """Drop the first `length` bytes of fd's file in place; False if unsupported here."""
    if _libc.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, length) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err))


def _rotate_by_copy(console: Path, fd: int, size: int, keep: int) -> int:
    """The fallback: the newest `keep` bytes go to console.log.1, console.log is emptied."""
    os.lseek(fd, size - keep, os.SEEK_SET)
    tail = os.read(fd, keep)
    rotated = _side(console, ROTATED_SUFFIX)
    rotated.write_bytes(tail)
    os.truncate(fd, 0)
    return size


def trim(console: Path, cap: int) -> int:
    """If `console` is over `cap` bytes, drop its oldest bytes so about cap/2 remain.

    Returns how many bytes were dropped (0: nothing to do, or no such file).
    """
    try:
        with _locked(console, os.O_RDWR, fcntl.LOCK_EX) as fd:
            st = os.fstat(fd)
            if st.st_size <= cap:
                return 0
            block = max(st.st_blksize, 4096)
            cut = (st.st_size - cap // 2) // block * block
            if cut <= 0 or cut >= st.st_size:
                return 0
            if not _collapse(fd, cut):
                cut = _rotate_by_copy(console, fd, st.st_size, cap // 2)
            _set_dropped(console, dropped(console) + cut)
            return cut
    except FileNotFoundError:
        return 0


def end(console: Path) -> int:
    """The logical size: every byte the guest printed, trimmed or not."""
    try:
        with _locked(console, os.O_RDONLY, fcntl.LOCK_SH) as fd:
            return dropped(console) + os.fstat(fd).st_size
    except FileNotFoundError:
        return 0


def read(console: Path, offset: int, max_bytes: int) -> tuple[bytes, int, int]:
    """At most `max_bytes` from logical `offset`: (data, next offset, bytes skipped).

    Bytes skipped > 0: they were trimmed before this reader got to them.
    """
    try:
        with _locked(console, os.O_RDONLY, fcntl.LOCK_SH) as fd:
            base = dropped(console)
            skipped = max(0, base - offset)
            start = offset + skipped
            size = os.fstat(fd).st_size
            if start - base > size:  # the file was replaced under us: start over
                start, skipped = base, 0
            data = os.pread(fd, max_bytes, start - base)
            return data, start + len(data), skipped
    except FileNotFoundError:
        return b"", offset, 0
