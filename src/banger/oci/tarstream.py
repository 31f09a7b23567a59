"""A streaming tar reader whose memory use does not depend on what the archive says.

Why not tarfile: it reads a GNU long name/link or a pax header into memory whole before
anyone can look at its size (a 4.7 MB gzip layer took 3 GiB), follows chains of extended
headers by recursion, keeps every member it ever returned, and expands sparse members
into their full size. Here every header is checked against a bound *before* its data is
read, extended headers are consumed in a loop, nothing is kept between members, and a
sparse member is returned as its data segments (callers write it with holes).

Accepted: ustar, v7, GNU (L/K long names, old 'S' sparse) and pax ('x'/'X' per entry, GNU
sparse 0.0/0.1/1.0). pax global headers ('g') are size-checked and skipped: Docker and
containerd ignore them too, and honouring a global "path" would rename every entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from banger.oci import tarheader as th
from banger.oci import tarpax
from banger.oci.tarheader import TarFormatError
from banger.oci.tree import NO_XATTRS

MAX_PAX_HEADER_BYTES = 1024 * 1024  # real ones are a few hundred bytes; xattrs stay far below
MAX_SPARSE_SEGMENTS = 65536
_SKIP_CHUNK = 1024 * 1024
_MAX_SPARSE_NUMBER = 20  # digits of one number in a 1.0 sparse map (a 64-bit value)


@dataclass(slots=True)
class TarMember:
    name: str
    typeflag: bytes
    mode: int
    uid: int
    gid: int
    mtime: int  # whole seconds, unclamped
    size: int  # the file's size (for a sparse member: including its holes)
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=lambda: NO_XATTRS)
    # Sparse members only: (offset, length) of each data segment, in order; their data
    # follows in the archive back to back, `stored` bytes in all.
    sparse: list[tuple[int, int]] | None = None
    stored: int = 0  # bytes of data following the header(s) in the archive


class TarReader:
    """Iterate members; read the current member's data with read() before asking for the next.

    max_name_bytes bounds a GNU long name, max_link_bytes a GNU long link (symlink or hard
    link target); larger ones are rejected before a byte of them is read.
    """

    def __init__(self, stream: BinaryIO, *, max_name_bytes: int, max_link_bytes: int) -> None:
        self._stream = stream
        self._max_name = max_name_bytes
        self._max_link = max_link_bytes
        self._remaining = 0  # unread data bytes of the current member
        self._padding = 0  # then this many bytes up to the next block boundary
        self._offset = 0

    def __iter__(self) -> Iterator[TarMember]:
        while True:
            self._skip(self._remaining + self._padding)
            self._remaining = self._padding = 0
            member = self._next_member()
            if member is None:
                return
            yield member

    def read(self, size: int) -> bytes:
        """Up to size bytes of the current member's data; b"" once it is all read."""
        size = min(size, self._remaining)
        if size <= 0:
            return b""
        data = self._read_exact(size)
        self._remaining -= size
        return data

    # --- internals ---------------------------------------------------------------------

    def _read_exact(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise TarFormatError("the tar stream ends in the middle of an entry")
        self._offset += size
        return data

    def _skip(self, size: int) -> None:
        while size > 0:
            step = min(size, _SKIP_CHUNK)
            self._read_exact(step)
            size -= step

    def _bounded(self, header: th.RawHeader, limit: int, what: str) -> bytes:
        if header.size > limit:
            raise TarFormatError(f"{what} of {header.size} bytes exceeds the limit of {limit}")
        return self._read_exact(th.padded(header.size))[: header.size]

    def _next_member(self) -> TarMember | None:
        long_name: str | None = None
        long_link: str | None = None
        pax: tarpax.PaxInfo | None = None
        while True:
            at_start = self._offset == 0
            block = self._stream.read(th.BLOCK)
            pending = long_name is not None or long_link is not None or pax is not None
            if not block.strip(b"\0"):  # end of stream, or the zero end block (even cut short)
                if pending:
                    raise TarFormatError("the tar stream ends after an extended header")
                if not block and at_start:
                    raise TarFormatError("the layer is empty (not even a tar end marker)")
                return None
            if len(block) != th.BLOCK:
                raise TarFormatError("the tar stream ends in the middle of a header")
            self._offset += th.BLOCK
            header = th.parse(block)
            kind = header.typeflag
            if kind in (th.GNU_LONGNAME, th.GNU_LONGLINK):
                is_name = kind == th.GNU_LONGNAME
                if (long_name if is_name else long_link) is not None:
                    raise TarFormatError("an entry has two GNU long name/link headers")
                limit = self._max_name if is_name else self._max_link
                what = "a GNU long name" if is_name else "a GNU long link target"
                value = th.text(self._bounded(header, limit + 1, what))  # + its NUL
                if is_name:
                    long_name = value
                else:
                    long_link = value
            elif kind in (th.PAX_LOCAL, th.PAX_SOLARIS):
                if pax is not None:
                    raise TarFormatError("an entry has two pax extended headers")
                data = self._bounded(header, MAX_PAX_HEADER_BYTES, "a pax extended header")
                pax = tarpax.parse_records(data)
            elif kind == th.PAX_GLOBAL:
                if header.size > MAX_PAX_HEADER_BYTES:
                    raise TarFormatError(
                        f"a pax global header of {header.size} bytes exceeds the limit "
                        f"of {MAX_PAX_HEADER_BYTES}"
                    )
                self._skip(th.padded(header.size))
            else:
                return self._member(header, long_name, long_link, pax)

    def _member(
        self,
        header: th.RawHeader,
        long_name: str | None,
        long_link: str | None,
        pax: tarpax.PaxInfo | None,
    ) -> TarMember:
        member = TarMember(
            name=long_name if long_name is not None else header.name,
            typeflag=header.typeflag,
            mode=header.mode,
            uid=header.uid,
            gid=header.gid,
            mtime=header.mtime,
            size=header.size,
            linkname=long_link if long_link is not None else header.linkname,
            devmajor=header.devmajor,
            devminor=header.devminor,
        )
        try:
            if pax is not None:
                self._apply_pax(member, pax)
            if header.typeflag == th.GNU_SPARSE:
                self._old_gnu_sparse(member, header)
            has_data = member.typeflag not in th.HEADER_ONLY_TYPES
            if member.sparse is None:
                member.stored = member.size if has_data else 0
            self._remaining = member.stored
            self._padding = th.padded(member.stored) - member.stored
            if pax is not None and tarpax.sparse_format(pax) == "1.0":
                self._pax_sparse_map(member, pax)
            if member.sparse is not None and member.typeflag not in th.REGULAR_TYPES:
                raise TarFormatError("a sparse map on an entry that is not a regular file")
        except TarFormatError as exc:
            exc.name = exc.name or member.name
            raise
        return member

    def _apply_pax(self, member: TarMember, pax: tarpax.PaxInfo) -> None:
        path = tarpax.path_field(pax, b"GNU.sparse.name") or tarpax.path_field(pax, b"path")
        if path is not None:
            member.name = path
        link = tarpax.path_field(pax, b"linkpath")
        if link is not None:
            member.linkname = link
        for key in (b"uid", b"gid", b"size"):
            if key in pax.fields:
                setattr(member, key.decode(), tarpax.decimal(pax.fields[key], key.decode()))
        if b"mtime" in pax.fields:
            member.mtime = tarpax.seconds(pax.fields[b"mtime"])
        if pax.xattrs:
            member.xattrs = pax.xattrs
        sparse = tarpax.sparse_format(pax)
        if sparse in ("0.0", "0.1"):
            member.stored = member.size  # what follows is the data segments only
            member.sparse = tarpax.sparse_map_in_header(pax, MAX_SPARSE_SEGMENTS)
            member.size = tarpax.sparse_realsize(pax)
            _check_segments(member)
        # 1.0 keeps its map in the data: read after the header, in _pax_sparse_map.

    def _old_gnu_sparse(self, member: TarMember, header: th.RawHeader) -> None:
        segments = list(header.sparse or [])
        extended = header.sparse_extended
        blocks = 0
        while extended:
            # Counted in blocks, not segments: blocks of empty slots add none.
            blocks += 1
            if blocks > MAX_SPARSE_SEGMENTS // 21 + 1:
                raise TarFormatError(
                    f"a GNU sparse map has more than {MAX_SPARSE_SEGMENTS} segments"
                )
            more, extended = th.parse_extension(self._read_exact(th.BLOCK))
            segments.extend(more)
        member.stored, member.size, member.sparse = member.size, header.sparse_realsize, segments
        _check_segments(member)

    def _pax_sparse_map(self, member: TarMember, pax: tarpax.PaxInfo) -> None:
        """GNU sparse 1.0: a count, then offset/size pairs, one decimal per line, in blocks."""
        numbers: list[int] = []
        pending = b""
        wanted: int | None = None
        while wanted is None or len(numbers) < 2 * wanted:
            if b"\n" not in pending:
                if len(pending) > _MAX_SPARSE_NUMBER:
                    raise TarFormatError("a GNU sparse map has an overlong number")
                if self._remaining < th.BLOCK:
                    raise TarFormatError("a GNU sparse map runs past its entry's data")
                pending += self.read(th.BLOCK)
                continue
            line, pending = pending.split(b"\n", 1)
            value = tarpax.decimal(line, "sparse map number")
            if wanted is None:
                if value > MAX_SPARSE_SEGMENTS:
                    raise TarFormatError(
                        f"a GNU sparse map has more than {MAX_SPARSE_SEGMENTS} segments"
                    )
                wanted = value
            else:
                numbers.append(value)
        member.sparse = list(zip(numbers[0::2], numbers[1::2], strict=True))
        member.stored = self._remaining  # the map took whole blocks; the data follows
        member.size = tarpax.sparse_realsize(pax)
        _check_segments(member)


def _check_segments(member: TarMember) -> None:
    """Segments must be ordered, disjoint, inside the file, and add up to the stored data."""
    assert member.sparse is not None
    if member.size < 0:
        raise TarFormatError("a GNU sparse entry has a negative size")
    end = 0
    total = 0
    for offset, length in member.sparse:
        if offset < end or length < 0 or offset + length > member.size:
            raise TarFormatError("a GNU sparse map has overlapping or out-of-range segments")
        end = offset + length
        total += length
    if total != member.stored:
        raise TarFormatError(
            f"a GNU sparse map describes {total} bytes but the entry stores {member.stored}"
        )
