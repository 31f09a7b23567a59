"""Decompressors for the formats Linux uses for its compressed payload and modules.

Each one tolerates trailing bytes after the stream, because the kernel appends the
uncompressed size (and padding) behind the payload.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable

import lz4.block
import zstandard

from banger.errors import InvalidArgument

GZIP_MAGIC = b"\x1f\x8b\x08"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"
BZIP2_MAGIC = b"BZh"
LZMA_MAGIC = b"\x5d\x00\x00"

# The kernel's lz4 legacy writer cuts input into blocks of at most 8 MiB.
LZ4_LEGACY_BLOCK = 8 << 20


def gunzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def unxz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def unlzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)


def bunzip2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data)


def unzstd(data: bytes) -> bytes:
    # decompressobj reads one frame and ignores what follows; frames written by the
    # kernel build may lack a content size, which rules out ZstdDecompressor.decompress.
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def unlz4_legacy(data: bytes) -> bytes:
    """Decode the lz4 "legacy frame": magic, then (u32 little-endian size, block)*.

    Stops at the first size that does not fit the remaining data, which is how the
    appended uncompressed-size trailer is skipped; a repeated magic starts a new stream.
    """
    if not data.startswith(LZ4_LEGACY_MAGIC):
        raise InvalidArgument("payload is not an lz4 legacy frame", hint="check the compressor")
    out = bytearray()
    pos = len(LZ4_LEGACY_MAGIC)
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        if data[pos : pos + 4] == LZ4_LEGACY_MAGIC:
            pos += 4
            continue
        if size == 0 or pos + 4 + size > len(data):
            break
        block = data[pos + 4 : pos + 4 + size]
        try:
            out += lz4.block.decompress(block, uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4.block.LZ4BlockError as exc:
            raise InvalidArgument(
                f"corrupt lz4 block at offset {pos}", hint="the kernel image is damaged"
            ) from exc
        pos += 4 + size
    if not out:
        raise InvalidArgument("lz4 legacy frame holds no data", hint="the kernel image is damaged")
    return bytes(out)


# Ordered so that longer, more specific magics are tried first.
DECOMPRESSORS: list[tuple[str, bytes, Callable[[bytes], bytes]]] = [
    ("xz", XZ_MAGIC, unxz),
    ("zstd", ZSTD_MAGIC, unzstd),
    ("lz4", LZ4_LEGACY_MAGIC, unlz4_legacy),
    ("gzip", GZIP_MAGIC, gunzip),
    ("bzip2", BZIP2_MAGIC, bunzip2),
    ("lzma", LZMA_MAGIC, unlzma),
]


def detect(data: bytes) -> str | None:
    """Name the compressor whose magic starts `data`, or None."""
    for name, magic, _ in DECOMPRESSORS:
        if data.startswith(magic):
            return name
    return None


def decompress(data: bytes) -> tuple[str, bytes]:
    """Decompress a stream whose format is recognised by its magic; raise otherwise."""
    for name, magic, func in DECOMPRESSORS:
        if data.startswith(magic):
            try:
                return name, func(data)
            except (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError) as exc:
                raise InvalidArgument(
                    f"{name} payload could not be decompressed: {exc}",
                    hint="the kernel image is truncated or damaged",
                ) from exc
    raise InvalidArgument(
        "unknown compression format", hint="supported: gzip, xz, zstd, lz4 (legacy), bzip2, lzma"
    )
