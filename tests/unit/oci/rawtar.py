"""Raw tar header blocks, written by hand, and the hostile layers built from them.

tarfile refuses to write most of these (gigantic GNU long names, chained pax headers,
old-GNU sparse maps with millions of extension blocks), so every block is assembled here
byte by byte. Big payloads are streamed through zstd straight into the layer file: a GiB
of repeated bytes is a few dozen KiB on disk and takes well under a second to produce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import zstandard

BLOCK = 512
GiB = 1 << 30
MiB = 1 << 20


def number(value: int, width: int) -> bytes:
    """A numeric field: octal when it fits, else GNU base-256 (negative values too)."""
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    raw = value % (256 ** (width - 1))
    return bytes([0xFF if value < 0 else 0x80]) + raw.to_bytes(width - 1, "big")


def header(
    name: bytes | str,
    typeflag: bytes = b"0",
    *,
    size: int = 0,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = 1_700_000_000,
    linkname: bytes = b"",
    extra: dict[int, bytes] | None = None,
) -> bytes:
    """One 512-byte ustar header block with a correct checksum; extra patches raw offsets."""
    raw_name = name.encode() if isinstance(name, str) else name
    block = bytearray(BLOCK)
    block[0:100] = raw_name[:100].ljust(100, b"\0")
    block[100:108] = number(mode, 8)
    block[108:116] = number(uid, 8)
    block[116:124] = number(gid, 8)
    block[124:136] = number(size, 12)
    block[136:148] = number(mtime, 12)
    block[156:157] = typeflag
    block[157:257] = linkname[:100].ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    for offset, data in (extra or {}).items():
        block[offset : offset + len(data)] = data
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member(name: str, data: bytes = b"", typeflag: bytes = b"0", **kw: object) -> bytes:
    return header(name, typeflag, size=len(data), **kw) + pad(data)  # type: ignore[arg-type]


def named(name: str, data: bytes = b"", typeflag: bytes = b"0", **kw: object) -> bytes:
    """A member whose name may exceed 100 bytes: a GNU long name header carries it."""
    raw = name.encode()
    if len(raw) <= 100:
        return member(name, data, typeflag, **kw)
    long_name = header("././@LongLink", b"L", size=len(raw) + 1) + pad(raw + b"\0")
    return long_name + member(name[:100], data, typeflag, **kw)


def pax(records: Iterable[tuple[str | bytes, bytes | str]], typeflag: bytes = b"x") -> bytes:
    """A pax extended ('x') or global ('g') header with its records."""
    parts = []
    for key, value in records:
        k = key.encode() if isinstance(key, str) else key
        v = value.encode() if isinstance(value, str) else value
        core = b" " + k + b"=" + v + b"\n"
        length = len(core) + 1
        while len(str(length)) + len(core) != length:
            length += 1
        parts.append(str(length).encode() + core)
    return member("././@PaxHeader", b"".join(parts), typeflag)


END = b"\0" * (2 * BLOCK)

Chunks = Iterator[bytes]


def repeat(byte: bytes, count: int, chunk: int = MiB) -> Chunks:
    full, rest = divmod(count, chunk)
    block = byte * chunk
    for _ in range(full):
        yield block
    if rest:
        yield byte * rest


def write_zstd(path: Path, parts: Iterable[bytes]) -> Path:
    with open(path, "wb") as handle:
        # An 8 MiB window lets repeated MiB-sized headers compress to almost nothing.
        params = zstandard.ZstdCompressionParameters.from_level(1, window_log=23)
        compressor = zstandard.ZstdCompressor(compression_params=params)
        writer = compressor.stream_writer(handle, closefd=False)
        for part in parts:
            writer.write(part)
        writer.close()
    return path


# --- the hostile layers (each a generator of raw tar bytes) ---------------------------


def huge_gnu_long(typeflag: bytes, size: int = GiB) -> Chunks:
    """A GNU long name ('L') or long link ('K') of `size` bytes, then a normal entry."""
    yield header("././@LongLink", typeflag, size=size)
    yield from repeat(b"a", size)
    yield b"\0" * (-size % BLOCK)
    yield member("x", b"x")
    yield END


def huge_pax(typeflag: bytes, size: int = GiB) -> Chunks:
    """One pax record of `size` bytes in an 'x' or 'g' header."""
    prefix = b"%d comment=" % size
    yield header("././@PaxHeader", typeflag, size=size)
    yield prefix
    yield from repeat(b"a", size - len(prefix) - 1)
    yield b"\n" + b"\0" * (-size % BLOCK)
    yield member("x", b"x")
    yield END


def chained_pax(count: int = 5000) -> Chunks:
    """Thousands of pax headers in a row before one entry (recursion in tarfile)."""
    for _ in range(count):
        yield pax([("comment", "x")])
    yield member("x", b"x")
    yield END


def sparse_structs(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(number(o, 12) + number(n, 12) for o, n in pairs)


def old_gnu_sparse(
    name: str, realsize: int, pairs: list[tuple[int, int]], data: bytes, ext_blocks: int = 0
) -> Chunks:
    """An old-GNU sparse ('S') member; ext_blocks extension blocks of 21 dummy entries."""
    extra = {386: sparse_structs(pairs[:4]), 482: b"\1" if ext_blocks else b"\0"}
    extra[483] = number(realsize, 12)
    yield header(name, b"S", size=len(data), extra=extra)
    if ext_blocks:
        entries = sparse_structs([(1, 1)] * 21)
        more = pad(entries[:504] + b"\1")
        last = pad(entries[:504] + b"\0")
        for _ in range(ext_blocks - 1):
            yield more
        yield last
    yield pad(data)
    yield END


def pax_sparse_10(name: str, realsize: int, pairs: list[tuple[int, int]], data: bytes) -> Chunks:
    """GNU pax sparse format 1.0: the map is the first blocks of the member's data."""
    sparse_map = pad(b"%d\n" % len(pairs) + b"".join(b"%d\n%d\n" % p for p in pairs))
    yield pax(
        [
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", name),
            ("GNU.sparse.realsize", str(realsize)),
        ]
    )
    yield member("GNUSparseFile.0/" + name, sparse_map + data)
    yield END


def pax_sparse_10_huge_map(count: int) -> Chunks:
    """A 1.0 sparse map announcing `count` pairs, followed by that many numbers."""
    yield pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.realsize", "1")])
    body = b"%d\n" % count
    size = len(body) + 4 * count
    yield header("GNUSparseFile.0/x", b"0", size=size)
    yield body
    yield from repeat(b"1\n", 2 * count)
    yield b"\0" * (-size % BLOCK)
    yield END


def deep_path(depth: int) -> str:
    return "/".join(["d"] * depth) + "/f"


def many_long_symlinks(count: int, target_bytes: int = 4000) -> Chunks:
    """count symlinks with long targets (GNU 'K' headers): metadata the tree must hold."""
    target = b"t" * target_bytes
    long_link = header("././@LongLink", b"K", size=len(target)) + pad(target)
    for index in range(count):
        yield long_link
        yield header(f"l{index}", b"2", mode=0o777)
    yield END


def many_deep_paths(count: int, depth: int = 250) -> Chunks:
    """count files, each under its own chain of `depth` directories no entry names."""
    chain = "/".join(["d"] * depth)
    for index in range(count):
        yield named(f"{index}/{chain}/f")
    yield END


def many_tiny_xattrs(count: int, per_entry: int = 30_000) -> Chunks:
    """count entries whose pax header holds per_entry one-byte xattrs (~1 MiB of records)."""
    header_block = pax([(f"SCHILY.xattr.user.{i}", b"v") for i in range(per_entry)])
    for index in range(count):
        yield header_block
        yield member(f"f{index}", b"")
    yield END


def many_big_xattrs(count: int, value_bytes: int = 60_000) -> Chunks:
    value = b"v" * value_bytes
    for index in range(count):
        yield pax([("SCHILY.xattr.user.big", value)])
        yield member(f"f{index}", b"")
    yield END


def layer_file(path: Path, build: Callable[[], Chunks]) -> Path:
    return write_zstd(path, build())
