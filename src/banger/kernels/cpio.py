"""A writer for the "newc" cpio format the kernel unpacks an initramfs from.

Pure Python so that building an initrd needs no cpio binary and no root: owners and
modes are whatever we say, not what the build host's files happen to have.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import BinaryIO

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class CpioEntry:
    """One archive member. `mode` includes the file-type bits (e.g. 0o100755)."""

    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    rdev_major: int = 0
    rdev_minor: int = 0


def directory(name: str, perm: int = 0o755) -> CpioEntry:
    return CpioEntry(name, stat.S_IFDIR | perm)


def regular(name: str, data: bytes, perm: int = 0o644) -> CpioEntry:
    return CpioEntry(name, stat.S_IFREG | perm, data)


def char_device(name: str, major: int, minor: int, perm: int = 0o600) -> CpioEntry:
    return CpioEntry(name, stat.S_IFCHR | perm, rdev_major=major, rdev_minor=minor)


def symlink(name: str, target: str) -> CpioEntry:
    return CpioEntry(name, stat.S_IFLNK | 0o777, target.encode())


def _pad4(out: BinaryIO, length: int) -> None:
    out.write(b"\x00" * (-length % 4))


def _write_one(out: BinaryIO, entry: CpioEntry, ino: int) -> None:
    name = entry.name.lstrip("/").encode() + b"\x00"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = [
        ino,
        entry.mode,
        entry.uid,
        entry.gid,
        nlink,
        0,  # mtime: fixed for reproducible archives
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdev_major,
        entry.rdev_minor,
        len(name),
        0,  # check (unused by newc)
    ]
    header = NEWC_MAGIC + b"".join(f"{value:08x}".encode() for value in fields)
    out.write(header)
    out.write(name)
    _pad4(out, len(header) + len(name))
    out.write(entry.data)
    _pad4(out, len(entry.data))


def write_newc(out: BinaryIO, entries: list[CpioEntry]) -> None:
    """Write `entries` in order, then the trailer. Parents must precede children."""
    for ino, entry in enumerate(entries, start=1):
        _write_one(out, entry, ino)
    _write_one(out, CpioEntry(TRAILER, 0), 0)
    # The kernel accepts any length, but 512-byte alignment matches what cpio(1) writes.
    total = out.tell() if out.seekable() else 0
    if total:
        out.write(b"\x00" * (-total % 512))
