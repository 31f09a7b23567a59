"""pax extended headers: records, the fields banger honours, and GNU sparse maps.

Records are framed as tarfile (and Go's archive/tar) require: "<len> <key>=<value>\\n",
len counting the whole record. Values stay bytes until a field is interpreted, so an
xattr value is kept bit for bit. Numbers must be plain decimals (what tar writers emit);
anything else (exponents, signs on ids, 4,000-digit values) is rejected by name rather
than becoming an OverflowError deep in the build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from banger.oci.tarheader import TarFormatError

XATTR_PREFIX = b"SCHILY.xattr."
_RECORD = re.compile(rb"([0-9]{1,20}) ")
_DECIMAL = re.compile(rb"[0-9]{1,18}")  # < 10**18: above any size, id or time banger takes
_TIME = re.compile(rb"(-?)([0-9]+)(?:\.[0-9]*)?")
# Far beyond any valid time; replay clamps it anyway. Keeps ints small whatever is written.
TIME_TOO_BIG = 10**18


@dataclass(slots=True)
class PaxInfo:
    """What one 'x' header says about the entry that follows it."""

    fields: dict[bytes, bytes] = field(default_factory=dict)  # last record per key wins
    xattrs: dict[str, bytes] = field(default_factory=dict)
    sparse_offsets: list[bytes] = field(default_factory=list)  # GNU sparse 0.0, in order
    sparse_lengths: list[bytes] = field(default_factory=list)


def parse_records(data: bytes) -> PaxInfo:
    info = PaxInfo()
    pos = 0
    while pos < len(data) and data[pos] != 0:  # NUL padding after the last record is allowed
        match = _RECORD.match(data, pos)
        length = int(match.group(1)) if match else 0
        end = pos + length
        if not match or length < 5 or end > len(data) or data[end - 1] != 0x0A:
            raise TarFormatError("a pax header has a malformed record")
        key, equals, value = data[match.end() : end - 1].partition(b"=")
        if not key or not equals:
            raise TarFormatError("a pax header has a malformed record")
        if key.startswith(XATTR_PREFIX):
            info.xattrs[key[len(XATTR_PREFIX) :].decode("utf-8", "surrogateescape")] = value
        elif key == b"GNU.sparse.offset":
            info.sparse_offsets.append(value)
        elif key == b"GNU.sparse.numbytes":
            info.sparse_lengths.append(value)
        else:
            info.fields[key] = value
        pos = end
    return info


def decimal(value: bytes, what: str) -> int:
    if not _DECIMAL.fullmatch(value):
        shown = value[:40].decode("ascii", "replace")
        raise TarFormatError(f"pax {what} {shown!r} is not a decimal number below 10^18")
    return int(value)


def seconds(value: bytes) -> int:
    """A pax time ("1700000000.123", "-5") as whole seconds; huge values become TIME_TOO_BIG."""
    match = _TIME.fullmatch(value)
    if not match:
        shown = value[:40].decode("ascii", "replace")
        raise TarFormatError(f"pax mtime {shown!r} is not a decimal time")
    sign, whole = match.groups()
    magnitude = TIME_TOO_BIG if len(whole) > 18 else int(whole)
    return -magnitude if sign else magnitude


def path_field(info: PaxInfo, key: bytes) -> str | None:
    value = info.fields.get(key)
    return None if value is None else value.decode("utf-8", "surrogateescape")


def sparse_format(info: PaxInfo) -> str | None:
    """Which GNU pax sparse format the header announces: "0.0", "0.1", "1.0" or None."""
    if b"GNU.sparse.map" in info.fields:
        return "0.1"
    if b"GNU.sparse.size" in info.fields:
        return "0.0"
    if (info.fields.get(b"GNU.sparse.major"), info.fields.get(b"GNU.sparse.minor")) == (
        b"1",
        b"0",
    ):
        return "1.0"
    return None


def sparse_realsize(info: PaxInfo) -> int:
    raw = info.fields.get(b"GNU.sparse.realsize", info.fields.get(b"GNU.sparse.size"))
    if raw is None:
        raise TarFormatError("a GNU sparse entry does not say its real size")
    return decimal(raw, "GNU.sparse size")


def sparse_map_in_header(info: PaxInfo, max_segments: int) -> list[tuple[int, int]]:
    """The segments of a 0.0 (offset/numbytes records) or 0.1 (GNU.sparse.map) header."""
    if b"GNU.sparse.map" in info.fields:
        numbers = info.fields[b"GNU.sparse.map"].split(b",")
        if numbers == [b""]:
            numbers = []
        if len(numbers) % 2:
            raise TarFormatError("a GNU sparse map has an odd number of values")
        offsets, lengths = numbers[0::2], numbers[1::2]
    else:
        offsets, lengths = info.sparse_offsets, info.sparse_lengths
        if len(offsets) != len(lengths):
            raise TarFormatError("a GNU sparse map has unpaired offsets and sizes")
    if len(offsets) > max_segments:
        raise TarFormatError(f"a GNU sparse map has more than {max_segments} segments")
    return [
        (decimal(o, "sparse offset"), decimal(n, "sparse size"))
        for o, n in zip(offsets, lengths, strict=True)
    ]
