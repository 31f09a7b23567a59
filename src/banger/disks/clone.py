"""Copy-on-write clones of disk images: reflink or sparse copy.

- "reflink": FICLONE shares every extent with the source; instant, no extra space until
  the VM writes. Needs btrfs or xfs (reflink=1) holding both files.
- "copy": a sparse copy (holes stay holes) with copy_file_range; works everywhere.

device-mapper snapshots (banger.disks.dm) are not a strategy: nothing activates a
snapshot at VM start yet, so a VM would boot an empty COW file. Nothing selects them.

Every clone is written to a temporary file beside `dst` and renamed into place, so a
failure or cancellation leaves nothing behind and a reader never sees half a disk.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from banger.errors import Conflict, FailedPrecondition, InvalidArgument
from banger.ops.reporter import Reporter

CloneStrategy = Literal["reflink", "copy"]
STRATEGIES: tuple[CloneStrategy, ...] = ("reflink", "copy")

FICLONE = 0x40049409  # _IOW(0x94, 9, int) from linux/fs.h
_CHUNK = 8 << 20  # bytes per copy_file_range call: small enough to report and cancel often
# errnos meaning "this filesystem pair cannot share extents", not "something broke".
_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}


@dataclass(frozen=True)
class CloneResult:
    strategy: CloneStrategy
    path: Path
    size: int  # apparent size in bytes (same as the source)
    copied_bytes: int  # data bytes actually copied; 0 for reflink
    seconds: float


def _reflink(src_fd: int, dst_fd: int) -> None:
    # cp --reflink=always SRC DST
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def reflink_supported(directory: Path) -> bool:
    """Whether files in `directory` can be reflinked: a real FICLONE between two temp files."""
    with ExitStack() as stack:
        try:
            src = stack.enter_context(tempfile.TemporaryFile(dir=directory))
            dst = stack.enter_context(tempfile.TemporaryFile(dir=directory))
        except OSError as exc:
            raise FailedPrecondition(
                f"cannot create probe files in {directory}: {exc.strerror}",
                hint="check the directory exists and is writable by the daemon",
            ) from exc
        src.write(b"banger reflink probe\n" * 200)
        src.flush()
        try:
            _reflink(src.fileno(), dst.fileno())
        except OSError as exc:
            if exc.errno in _NO_REFLINK:
                return False
            raise
        return True


def detect_strategy(
    directory: Path, reflink_probe: Callable[[Path], bool] | None = None
) -> CloneStrategy:
    """The best strategy for clones kept in `directory`: reflink, else copy.

    Never dm-snapshot, whatever device-mapper reports: see the module docstring.
    """
    probe = reflink_probe or reflink_supported
    return "reflink" if probe(directory) else "copy"


def sparse_copy(src_fd: int, dst_fd: int, size: int, reporter: Reporter | None) -> int:
    """Copy only the data segments of src (SEEK_DATA/SEEK_HOLE); returns bytes copied.

    The one sparse copy of banger (clones and boot-set promotion): dst must be at least
    as long as src afterwards (ftruncate it to `size`) so a trailing hole is kept.
    """
    copied = 0
    offset = 0
    while offset < size:
        try:
            data = os.lseek(src_fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset: the rest is a hole
                break
            raise
        hole = os.lseek(src_fd, data, os.SEEK_HOLE)
        position = data
        while position < hole:
            if reporter is not None:
                reporter.check_cancelled()
            count = min(_CHUNK, hole - position)
            done = copy_range(src_fd, dst_fd, position, count)
            if done == 0:
                raise OSError(errno.EIO, "source image shrank while it was being copied")
            position += done
            copied += done
            if reporter is not None:
                reporter.progress(copied, None, unit="bytes", task="clone")
        offset = hole
    return copied


def copy_range(src_fd: int, dst_fd: int, position: int, count: int) -> int:
    """Copy up to `count` bytes at `position` from src_fd to the same offset of dst_fd;
    returns how many (0 at the end of src)."""
    try:
        return os.copy_file_range(src_fd, dst_fd, count, position, position)
    except OSError as exc:
        # Cross-filesystem copies are refused by some kernels: fall back to read/write.
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
    data = os.pread(src_fd, count, position)
    written = 0
    while written < len(data):
        written += os.pwrite(dst_fd, data[written:], position + written)
    return len(data)


def reflink_or_copy(src_fd: int, dst_fd: int, size: int) -> int:
    """Make the empty dst_fd a copy of src_fd: shared extents where the filesystem allows,
    else a sparse copy (holes stay holes). Returns the bytes copied (0 for a reflink)."""
    try:
        _reflink(src_fd, dst_fd)
        return 0
    except OSError as exc:
        if exc.errno not in _NO_REFLINK:
            raise
    copied = sparse_copy(src_fd, dst_fd, size, None)
    os.ftruncate(dst_fd, size)  # keeps a trailing hole
    return copied


def copy_sparse(src: Path, dst: Path, *, reporter: Reporter | None = None) -> int:
    """Copy `src` to the new file `dst` keeping holes and mode, then fsync; returns bytes copied.

    Unlike clone_disk this writes `dst` in place: callers stage it in a directory of their
    own that they rename or remove as a whole.
    """
    with open(src, "rb") as source, open(dst, "xb") as out:
        st = os.fstat(source.fileno())
        copied = sparse_copy(source.fileno(), out.fileno(), st.st_size, reporter)
        os.ftruncate(out.fileno(), st.st_size)  # keeps a trailing hole
        os.fchmod(out.fileno(), st.st_mode & 0o7777)
        os.fsync(out.fileno())
    return copied


def clone_disk(
    src: Path,
    dst: Path,
    strategy: CloneStrategy,
    *,
    reporter: Reporter | None = None,
) -> CloneResult:
    """Clone the image `src` to the new file `dst` with `strategy`.

    reflink: dst shares src's extents (fails with FailedPrecondition where unsupported:
    callers pick the strategy with detect_strategy, nothing falls back silently).
    copy: sparse copy; holes in src stay holes in dst.
    `dst` must not exist; its mode is copied from `src`.
    """
    if strategy not in STRATEGIES:
        raise InvalidArgument(
            f"unknown clone strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}"
        )
    started = time.monotonic()
    try:
        src_stat = src.stat()
    except FileNotFoundError as exc:
        raise InvalidArgument(f"source image {src} does not exist") from exc
    if dst.exists():
        raise Conflict(f"clone target {dst} already exists", hint="delete it or pick another path")
    copied = 0
    with ExitStack() as undo:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        tmp = Path(tmp_name)
        undo.callback(tmp.unlink, missing_ok=True)
        with os.fdopen(fd, "r+b") as out, src.open("rb") as source:
            if strategy == "reflink":
                try:
                    _reflink(source.fileno(), out.fileno())
                except OSError as exc:
                    if exc.errno not in _NO_REFLINK:
                        raise
                    raise FailedPrecondition(
                        f"cannot reflink {src} to {dst.parent}: {exc.strerror}",
                        hint="keep images and VMs on one btrfs or xfs (reflink=1) "
                        "filesystem, or use the 'copy' strategy",
                    ) from exc
            else:
                copied = sparse_copy(source.fileno(), out.fileno(), src_stat.st_size, reporter)
                os.ftruncate(out.fileno(), src_stat.st_size)  # keeps a trailing hole
            os.fchmod(out.fileno(), src_stat.st_mode & 0o7777)
            os.fsync(out.fileno())  # the data must be durable before the name is
        os.rename(tmp, dst)
        undo.pop_all()
    fsync_dir(dst.parent)
    return CloneResult(
        strategy=strategy,
        path=dst,
        size=src_stat.st_size,
        copied_bytes=copied,
        seconds=time.monotonic() - started,
    )


def fsync_dir(directory: Path) -> None:
    """Make a rename or create inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
