"""Unpack an untrusted tar stream as root without trusting a byte of it.

Only regular files, directories and symlinks that stay inside the tree are accepted; a
device, FIFO, socket, hard link or sparse member refuses the whole archive. Nothing of a
member's metadata is applied: files are 0600 and directories 0700, owned by the daemon,
so no setuid bit or foreign owner survives. Every path is created relative to a directory
fd opened with O_NOFOLLOW, so no member is ever written through a symlink. Total size,
entry count and the size of tar's own metadata headers are bounded.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import zstandard

from banger.errors import InvalidArgument
from banger.ops.reporter import Reporter

MAX_BYTES = 4 << 30  # a modules tree of a generic distribution kernel is well below 1 GiB
MAX_ENTRIES = 100_000
MAX_HEADER_BYTES = 1 << 20  # pax / GNU long-name headers are read into memory whole
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_HINT = "use the kernel package as your distribution ships it"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_entries: int = MAX_ENTRIES


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuse oversized metadata headers before tarfile reads them into memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        meta = (
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
        )
        if self.type in meta and self.size > MAX_HEADER_BYTES:
            raise tarfile.HeaderError(f"a {self.size}-byte metadata header")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "a character device"
    if member.isblk():
        return "a block device"
    if member.isfifo():
        return "a FIFO"
    if member.islnk():
        return "a hard link"
    if member.issparse():
        return "a sparse file"
    return f"of tar type {member.type!r}"


def _parts(name: str, what: str) -> list[str]:
    """The member's path as components; absolute paths and '..' refuse the archive."""
    if name.startswith("/"):
        raise InvalidArgument(f"{what}: member {name} has an absolute path", hint=_HINT)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"{what}: member {name} climbs out with '..'", hint=_HINT)
    return parts


def _check_symlink(parts: list[str], target: str, what: str) -> None:
    """A link may climb with leading '..' up to the tree's top, then only descend.

    Lexical checks are sound only in this shape: every link is created in a real
    directory, so its leading '..' walk real parents, and every link it descends through
    obeys the same rule. ("a/../x" is refused: "a" could itself be a link.)
    """
    steps = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(steps) and steps[ups] == "..":
        ups += 1
    escapes = target.startswith("/") or ".." in steps[ups:] or ups > len(parts) - 1
    if escapes or not steps:
        raise InvalidArgument(
            f"{what}: symlink {'/'.join(parts)} -> {target} points outside the package",
            hint=_HINT,
        )


def _open_dir(root_fd: int, parts: list[str], what: str, shown: str) -> int:
    """An fd of directory root/parts, made (0700) as needed, never through a symlink.
    `shown`: the member the directory is for, as errors name it."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                raise InvalidArgument(
                    f"{what}: {shown} lies below something that is not a directory",
                    hint=_HINT,
                ) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_file(parent: int, name: str, data: IO[bytes], size: int, path: str, what: str) -> None:
    try:
        fd = os.open(name, _NEW_FILE, 0o600, dir_fd=parent)
    except FileExistsError:
        raise InvalidArgument(f"{what}: {path} appears twice", hint=_HINT) from None
    with os.fdopen(fd, "wb") as out:
        left = size
        while left > 0:
            chunk = data.read(min(left, _CHUNK))
            if not chunk:
                raise InvalidArgument(f"{what}: {path} is cut short", hint=_HINT)
            out.write(chunk)
            left -= len(chunk)


class _Tally:
    """What has been unpacked so far, against the limits."""

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits, self.what = limits, what
        self.entries = self.bytes = 0

    def count(self, size: int) -> None:
        self.entries += 1
        self.bytes += size
        if self.entries > self.limits.max_entries:
            raise InvalidArgument(
                f"{self.what} has more than {self.limits.max_entries} entries", hint=_HINT
            )
        if self.bytes > self.limits.max_bytes:
            raise InvalidArgument(
                f"{self.what} unpacks to more than {self.limits.max_bytes >> 20} MiB", hint=_HINT
            )


def _place(tar: tarfile.TarFile, member: tarfile.TarInfo, root: int, what: str) -> None:
    """Create one member below the directory fd `root`, or refuse the archive."""
    parts = _parts(member.name, what)
    if not parts:
        return  # "./" itself
    shown = "/".join(parts)
    if member.isdir():
        os.close(_open_dir(root, parts, what, shown))
        return
    if member.issym():
        _check_symlink(parts, member.linkname, what)
    elif not member.isreg() or member.issparse():
        raise InvalidArgument(
            f"{what}: {shown} is {_kind(member)}; a kernel package holds "
            "only regular files, directories and symlinks",
            hint=_HINT,
        )
    parent = _open_dir(root, parts[:-1], what, shown)
    try:
        if member.issym():
            try:
                os.symlink(member.linkname, parts[-1], dir_fd=parent)
            except FileExistsError:
                raise InvalidArgument(f"{what}: {shown} appears twice", hint=_HINT) from None
            return
        data = tar.extractfile(member)
        assert data is not None  # a regular member always has data
        _write_file(parent, parts[-1], data, member.size, shown, what)
    finally:
        os.close(parent)


def extract(
    stream: IO[bytes], into: Path, *, what: str, reporter: Reporter, limits: Limits = Limits()
) -> None:
    """Unpack the tar stream into new directory `into` (0700), or refuse it whole.

    `what` names the archive in errors ("kernel package linux-image-....deb"). On a refusal
    `into` may hold part of the archive: the caller removes its private staging.
    """
    into.mkdir(mode=0o700)
    os.chmod(into, 0o700)
    root = os.open(into, _DIR_FLAGS)
    tally = _Tally(limits, what)
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                reporter.check_cancelled()
                tally.count(member.size if member.isreg() else 0)
                _place(tar, member, root, what)
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError) as exc:
        raise InvalidArgument(f"{what} is not a valid archive: {exc}", hint=_HINT) from None
    except OSError as exc:
        raise InvalidArgument(
            f"{what} could not be unpacked: {exc.strerror or exc}",
            hint="check the package, and the free space of banger's state directory",
        ) from None
    finally:
        os.close(root)
