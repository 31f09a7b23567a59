"""A .deb's data.tar read in Python, for every compression dpkg-deb writes."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from banger.errors import InvalidArgument
from banger.kernels.debfile import data_tar
from tests.unit.kernels.hostile import FAKE_VERSION, build_deb, kernel_tree


@pytest.mark.parametrize("compression", ["gzip", "xz", "zstd", "none"])
def test_data_tar_of_each_compression(tmp_path: Path, compression: str) -> None:
    tree = kernel_tree(tmp_path / "tree")
    deb = build_deb(tree, tmp_path / "k.deb")
    # Rebuild with the compression under test (build_deb uses gzip).
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", tree, deb],
        check=True,
        capture_output=True,
    )
    with deb.open("rb") as handle, tarfile.open(fileobj=data_tar(handle, "k.deb"), mode="r|") as t:
        names = [m.name for m in t]
    assert f"./boot/vmlinuz-{FAKE_VERSION}" in names


def ar(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n"
        out.write(header.encode() + data + (b"\n" if len(data) % 2 else b""))
    return out.getvalue()


def test_not_a_deb_and_broken_debs_are_one_error() -> None:
    cases = [
        (b"\x7fELF" + b"\0" * 100, "is not a Debian package"),
        (ar(("debian-binary", b"2.0\n"), ("control.tar.xz", b"xyz")), "holds no data.tar"),
        (ar(("debian-binary", b"2.0\n"), ("data.tar.lz4", b"xyz")), "data.tar.lz4, a compr"),
        (b"!<arch>\n" + b"x" * 60, "damaged ar archive"),
    ]
    for raw, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            data_tar(io.BytesIO(raw), "k.deb")


def test_a_member_is_read_only_up_to_its_size() -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        info = tarfile.TarInfo("a")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    raw = ar(("debian-binary", b"2.0\n"), ("data.tar", inner.getvalue())) + b"trailing junk"
    stream = data_tar(io.BytesIO(raw), "k.deb")
    assert stream.read() == inner.getvalue()
