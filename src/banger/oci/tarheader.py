"""Decode one 512-byte tar header block (ustar, GNU and v7), without trusting any of it.

Field layout and quirks follow CPython's tarfile (which banger used before) so layers
unpack exactly as they did: numbers are octal or GNU base-256, the checksum may be the
signed or the unsigned sum, a v7 "regular file" whose name ends in "/" is a directory,
and the ustar prefix is joined to the name except for GNU's own header types.
Nothing here allocates more than the block it is given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BLOCK = 512

REGULAR = b"0"
AREG = b"\0"  # v7 regular file
CONTIGUOUS = b"7"
HARDLINK = b"1"
SYMLINK = b"2"
CHAR = b"3"
BLOCKDEV = b"4"
DIRECTORY = b"5"
FIFO = b"6"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
GNU_SPARSE = b"S"
PAX_LOCAL = b"x"
PAX_SOLARIS = b"X"
PAX_GLOBAL = b"g"

REGULAR_TYPES = frozenset({REGULAR, AREG, CONTIGUOUS, GNU_SPARSE})
# Types whose size field is ignored: no data follows their header (tarfile and Go agree).
HEADER_ONLY_TYPES = frozenset({HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO})
_GNU_TYPES = frozenset({GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE})

_SPARSE_STRUCTS = 4  # in the old-GNU sparse header itself
_SPARSE_EXT_STRUCTS = 21  # in each extension block


class TarFormatError(Exception):
    """The stream is not a tar archive banger accepts; replay names the layer and entry."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


@dataclass(slots=True)
class RawHeader:
    name: str
    typeflag: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str
    devmajor: int
    devminor: int
    # Old-GNU sparse headers only: the first data segments, whether extension blocks
    # follow, and the file's real (apparent) size.
    sparse: list[tuple[int, int]] | None = None
    sparse_extended: bool = False
    sparse_realsize: int = 0


def text(raw: bytes) -> str:
    """A NUL-terminated field as str; undecodable bytes survive as surrogate escapes."""
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def number(raw: bytes) -> int:
    """A numeric field: GNU base-256 (first byte 0x80 or 0xff), else octal."""
    if raw and raw[0] in (0x80, 0xFF):
        value = int.from_bytes(raw[1:], "big")
        return value - 256 ** (len(raw) - 1) if raw[0] == 0xFF else value
    end = raw.find(b"\0")
    digits = (raw if end < 0 else raw[:end]).strip(b" ")
    if digits and not all(0x30 <= c <= 0x37 for c in digits):
        raise TarFormatError("a tar header has a malformed numeric field")
    return int(digits or b"0", 8)


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = number(block[148:156])
    except TarFormatError:
        return False
    unsigned = 256 + sum(block) - sum(block[148:156])
    if stored == unsigned:
        return True
    return stored == 256 + sum(struct.unpack_from("148b8x356b", block))


def sparse_pairs(block: bytes, start: int, count: int) -> list[tuple[int, int]]:
    """(offset, numbytes) structs of an old-GNU sparse header or extension block."""
    pairs = []
    for index in range(count):
        at = start + 24 * index
        offset, length = number(block[at : at + 12]), number(block[at + 12 : at + 24])
        if offset or length:  # all-NUL slots are unused
            pairs.append((offset, length))
    return pairs


def parse_extension(block: bytes) -> tuple[list[tuple[int, int]], bool]:
    """One old-GNU sparse extension block: its structs and whether another one follows."""
    return sparse_pairs(block, 0, _SPARSE_EXT_STRUCTS), bool(block[504])


def parse(block: bytes) -> RawHeader:
    """Decode a header block (the caller has already ruled out the all-zero end block)."""
    if not _checksum_ok(block):
        raise TarFormatError("a tar header has a bad checksum")
    typeflag = block[156:157]
    name = text(block[0:100])
    if typeflag == AREG and name.endswith("/"):
        typeflag = DIRECTORY
    header = RawHeader(
        name=name,
        typeflag=typeflag,
        mode=number(block[100:108]),
        uid=number(block[108:116]),
        gid=number(block[116:124]),
        size=number(block[124:136]),
        mtime=number(block[136:148]),
        linkname=text(block[157:257]),
        devmajor=number(block[329:337]),
        devminor=number(block[337:345]),
    )
    if header.size < 0:
        raise TarFormatError("a tar header has a negative size")
    if typeflag == GNU_SPARSE:
        header.sparse = sparse_pairs(block, 386, _SPARSE_STRUCTS)
        header.sparse_extended = bool(block[482])
        header.sparse_realsize = number(block[483:495])
    if typeflag == DIRECTORY:
        header.name = header.name.rstrip("/")
    prefix = text(block[345:500])
    if prefix and typeflag not in _GNU_TYPES:
        header.name = prefix + "/" + header.name
    return header


def padded(size: int) -> int:
    """size rounded up to whole blocks."""
    return -(-size // BLOCK) * BLOCK
