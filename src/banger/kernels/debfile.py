"""A .deb's file tree as a tar stream, read in Python instead of by dpkg-deb as root.

A .deb is an ar archive: debian-binary, control.tar.*, data.tar.* (uncompressed, gz, xz,
zst or bz2). `dpkg-deb --fsys-tarfile` would do the same, but parsing a stranger's file
with a C tool as root gains nothing over these few lines, and the stream stays lazy: the
hardened extractor (safetar) reads as it goes, and only bounded amounts are ever held.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import IO

import zstandard

from banger.errors import InvalidArgument

AR_MAGIC = b"!<arch>\n"
DEB_MAGIC = AR_MAGIC + b"debian-binary"
_AR_HEADER = 60
ZSTD_MAX_WINDOW = 128 << 20  # zstd's own default cap, explicit: a frame may ask for 2 GiB


class _Slice(io.RawIOBase):
    """At most `size` bytes of `source` from its current position."""

    def __init__(self, source: IO[bytes], size: int) -> None:
        self._source, self._left = source, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: self._left]
        if not view:
            return 0
        got = self._source.readinto(view)  # type: ignore[attr-defined]
        self._left -= got or 0
        return got or 0


def _decompressed(name: str, member: IO[bytes], what: str) -> IO[bytes]:
    if name == "data.tar":
        return member
    if name == "data.tar.gz":
        return gzip.GzipFile(fileobj=member, mode="rb")  # type: ignore[return-value]
    if name == "data.tar.xz":
        return lzma.LZMAFile(member)  # type: ignore[return-value]
    if name == "data.tar.zst":
        reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(member)
        return reader  # type: ignore[return-value]
    if name == "data.tar.bz2":
        return bz2.BZ2File(member)  # type: ignore[return-value]
    raise InvalidArgument(
        f"{what}: its files are in {name}, a compression banger does not read",
        hint="repack it with dpkg-deb --build (xz, zstd or gzip)",
    )


def data_tar(deb: IO[bytes], what: str) -> IO[bytes]:
    """The uncompressed data.tar of the .deb open in `deb` (positioned at its start)."""
    if deb.read(len(AR_MAGIC)) != AR_MAGIC:
        raise InvalidArgument(f"{what} is not a Debian package", hint="pass a .deb file")
    while True:
        header = deb.read(_AR_HEADER)
        if len(header) < _AR_HEADER:
            raise InvalidArgument(f"{what} holds no data.tar member", hint="pass a complete .deb")
        if header[58:60] != b"`\n":
            raise InvalidArgument(f"{what} is a damaged ar archive", hint="download it again")
        name = header[:16].decode("ascii", errors="replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise InvalidArgument(
                f"{what} is a damaged ar archive", hint="download it again"
            ) from None
        if name.startswith("data.tar"):
            reader = io.BufferedReader(_Slice(deb, size), buffer_size=1 << 20)
            return _decompressed(name, reader, what)  # type: ignore[arg-type]
        deb.seek(size + (size & 1), io.SEEK_CUR)  # members are 2-byte aligned
