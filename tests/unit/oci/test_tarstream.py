"""banger's own tar reader: tarfile's results on real archives, bounded on hostile ones."""

import contextlib
import io
import itertools
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from banger.oci import tarheader as th
from banger.oci.tarheader import TarFormatError
from banger.oci.tarstream import MAX_PAX_HEADER_BYTES, TarMember, TarReader

from . import rawtar as r


def members(data: bytes, max_name: int = 4096) -> list[tuple[TarMember, bytes]]:
    reader = TarReader(io.BytesIO(data), max_name_bytes=max_name, max_link_bytes=max_name)
    found = []
    for member in reader:
        if member.sparse is None:
            body = reader.read(member.stored)
        else:
            expanded = bytearray(member.size)
            for offset, length in member.sparse:
                expanded[offset : offset + length] = reader.read(length)
            body = bytes(expanded)
        found.append((member, body))
    return found


def _normal(kind: bytes) -> bytes:
    return b"0" if kind in (b"\0", b"7", b"S") else kind


def ours(data: bytes) -> list[tuple]:
    return [
        (
            m.name.rstrip("/"),
            *(_normal(m.typeflag), m.mode, m.uid, m.gid, m.size, m.mtime),
            *(m.linkname, dict(m.xattrs), body),
        )
        for m, body in members(data)
    ]


def tarfiles(data: bytes) -> list[tuple]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data), errors="surrogateescape") as archive:
        for m in archive:
            body = archive.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            xattrs = {
                k[len("SCHILY.xattr.") :]: v.encode("utf-8", "surrogateescape")
                for k, v in m.pax_headers.items()
                if k.startswith("SCHILY.xattr.")
            }
            found.append(
                (
                    m.name.rstrip("/"),
                    *(_normal(m.type), m.mode, m.uid, m.gid, m.size, int(m.mtime)),
                    *(m.linkname, xattrs, body),
                )
            )
    return found


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("tree")
    deep = src / ("x" * 120) / ("y" * 150)
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"hi")
    os.symlink("t" * 200, src / "longlink")
    (src / "ünï cødé").write_bytes(b"data")
    (src / os.fsdecode(b"raw\xff\xfename")).write_bytes(b"")
    with open(src / "sparse", "wb") as handle:  # data, a 4 MiB hole, data, a trailing hole
        handle.write(os.urandom(5000))
        handle.seek(4 << 20)
        handle.write(os.urandom(9000))
        handle.truncate(9 << 20)
    (src / "f1").write_bytes(b"x")
    os.link(src / "f1", src / "f2")
    os.mkfifo(src / "fifo")
    os.utime(src / "fifo", (4_000_000_000, 4_000_000_000))
    with contextlib.suppress(OSError):  # a filesystem without user xattrs: the rest compares
        os.setxattr(src / "f1", "user.bin", bytes(range(256)))
    return src


ARCHIVES = [
    ["--format=gnu", "--sparse"],
    ["--format=oldgnu", "--sparse"],
    ["--format=posix", "--sparse", "--sparse-version=0.0"],
    ["--format=posix", "--sparse", "--sparse-version=0.1"],
    ["--format=posix", "--sparse", "--sparse-version=1.0"],
    ["--format=ustar"],
    ["--format=v7"],
]


@pytest.mark.parametrize("flags", ARCHIVES, ids=lambda f: "".join(f).replace("--", " "))
def test_gnu_tar_archives_read_exactly_as_tarfile_reads_them(source_tree, tmp_path, flags):
    if shutil.which("tar") is None:
        pytest.skip("GNU tar is missing")
    out = tmp_path / "a.tar"
    subprocess.run(
        ["tar", *flags, "--xattrs", "-cf", out, "-C", source_tree, "."],
        check=False,  # ustar/v7 warn about names they cannot store and skip them
        capture_output=True,
    )
    data = out.read_bytes()
    assert ours(data) == tarfiles(data)
    if "--sparse" in flags:
        sparse = [m for m, _ in members(data) if m.name.endswith("sparse")]
        assert sparse[0].sparse and sparse[0].stored < 64 * 1024 and sparse[0].size == 9 << 20


def test_tarfile_pax_archives_with_xattrs_match(tmp_path):
    from .tarbuild import directory, file, hardlink, make_tar, symlink

    data = make_tar(
        [
            directory("etc", mode=0o1777),
            file("etc/x" * 80, b"data", uid=3_000_000, xattrs={"user.v": b"\xff\x00bin"}),
            hardlink("h", "etc/x" * 80),
            symlink("s", "/" + "q" * 300),
        ]
    )
    assert ours(data) == tarfiles(data)


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        (r.header("././@LongLink", b"L", size=1 << 30), "GNU long name of 1073741824 bytes"),
        (r.header("././@LongLink", b"K", size=5000), "GNU long link target of 5000 bytes"),
        (r.header("p", b"x", size=MAX_PAX_HEADER_BYTES + 1), "pax extended header of"),
        (r.header("p", b"g", size=1 << 33), "pax global header of"),
        (b"".join(r.chained_pax(2)), "two pax extended headers"),
        ((r.header("././@LongLink", b"L", size=2) + r.pad(b"a\0")) * 2, "two GNU long"),
    ],
)
def test_oversized_or_chained_headers_are_refused_before_their_data_is_read(layer, needle):
    # The streams end right after the header: refusing must not need (or read) the data.
    with pytest.raises(TarFormatError, match=needle):
        members(layer + r.END, max_name=4096)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (r.member("f", b"abc")[:700], "ends in the middle"),
        (r.member("f", b"abc")[:300], "in the middle of a header"),
        (r.header("f")[:148] + b"0000001\0" + r.header("f")[156:], "bad checksum"),
        (r.pax([("path", "x")]), "ends after an extended header"),
        (r.member("p", b"8 path=x\n", b"x") + r.member("f"), "malformed record"),
        (r.member("p", b"12 path=x\n\n", b"x") + r.member("f"), "malformed record"),
        (r.pax([("uid", "-5")]) + r.member("f"), "pax uid '-5' is not a decimal"),
        (r.pax([("uid", "1" * 20)]) + r.member("f"), "pax uid"),
        (r.pax([("mtime", "1e30")]) + r.member("f"), "pax mtime '1e30'"),
        (r.pax([("size", "12abc")]) + r.member("f"), "pax size"),
    ],
)
def test_malformed_streams_are_format_errors(data, needle):
    with pytest.raises(TarFormatError, match=needle):
        members(data)


def test_huge_pax_mtime_is_kept_small_and_negative_ids_pass_through_for_replay():
    [(member, _)] = members(r.pax([("mtime", "1" + "0" * 30)]) + r.member("f") + r.END)
    assert member.mtime == 10**18
    [(neg, _)] = members(r.member("f", uid=-5, gid=2**40) + r.END)  # base-256 fields
    assert (neg.uid, neg.gid) == (-5, 2**40)


@pytest.mark.parametrize(
    ("pairs", "data", "needle"),
    [
        ([(0, 10), (5, 10)], b"x" * 20, "overlapping"),
        ([(0, 10)], b"x" * 11, "describes 10 bytes but the entry stores 11"),
        ([(2000, 10)], b"x" * 10, "out-of-range"),
    ],
)
def test_inconsistent_sparse_maps_are_refused(pairs, data, needle):
    layer = b"".join(r.old_gnu_sparse("s", 1000, pairs, data))
    with pytest.raises(TarFormatError, match=needle):
        members(layer)


def test_sparse_maps_have_a_bounded_number_of_segments():
    many = b"".join(r.old_gnu_sparse("s", 10, [(0, 1)], b"x", ext_blocks=4000))
    with pytest.raises(TarFormatError, match="more than 65536 segments"):
        members(many)
    # A map announcing 10^9 pairs: refused at its first line, long before the pairs.
    huge_count = b"".join(itertools.islice(r.pax_sparse_10_huge_map(10**9), 4))
    with pytest.raises(TarFormatError, match="more than 65536 segments"):
        members(huge_count)


def test_header_numbers_octal_and_base256():
    assert th.number(b"0000755\0") == 0o755
    assert th.number(b"  17 \0") == 0o17
    assert th.number(r.number(-1, 8)) == -1
    assert th.number(r.number(2**60, 12)) == 2**60
    with pytest.raises(TarFormatError):
        th.number(b"12x\0")
