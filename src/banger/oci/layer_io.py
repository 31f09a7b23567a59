"""Layer blobs as uncompressed byte streams, and member data into staged content files.

Decompression is bounded: zstd frames may not demand a window above 128 MiB (zstd's own
default cap, made explicit: a frame header alone could otherwise ask for 2 GiB), gzip
needs 32 KiB whatever it says. File data is copied in 1 MiB pieces; sparse members are
written segment by segment at their offsets, so holes stay holes and are never zeros.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import BinaryIO

import zstandard

from banger.oci.tarheader import TarFormatError
from banger.oci.tarstream import TarMember, TarReader

ZSTD_MAX_WINDOW = 128 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024


def open_decompressed(path: Path) -> BinaryIO:
    """Open a layer blob as an uncompressed stream, detecting gzip/zstd by magic bytes."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        return decompressor.stream_reader(raw, closefd=True)  # type: ignore[return-value]
    return raw


def write_content(reader: TarReader, member: TarMember, path: Path) -> None:
    """Create path (it must not exist) holding the member's data, holes and all."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        if member.sparse is None:
            _copy(reader, fd, member.stored)
        else:
            for offset, length in member.sparse:
                os.lseek(fd, offset, os.SEEK_SET)
                _copy(reader, fd, length)
            os.ftruncate(fd, member.size)  # a trailing hole
    finally:
        os.close(fd)


def _copy(reader: TarReader, fd: int, size: int) -> None:
    remaining = size
    while remaining > 0:
        chunk = memoryview(reader.read(min(remaining, _COPY_CHUNK)))
        if not chunk:
            raise TarFormatError("the tar stream ends in the middle of an entry")
        remaining -= len(chunk)
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]
