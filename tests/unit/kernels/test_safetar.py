"""The hardened extractor: what `dpkg-deb -x` as root kept, it refuses or neutralises."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from banger.errors import Cancelled, InvalidArgument
from banger.kernels import safetar
from banger.ops.reporter import NullReporter
from tests.unit.kernels.hostile import member, tar_bytes


def extract(raw: bytes, into: Path, **limits: int) -> None:
    safetar.extract(
        io.BytesIO(raw),
        into,
        what="test archive",
        reporter=NullReporter(),
        limits=safetar.Limits(**limits),
    )


def test_files_and_directories_come_out_private_and_plain(tmp_path: Path) -> None:
    setuid = member("./usr/bin/rootshell", mode=0o6755)
    setuid.uid = setuid.gid = 1234
    raw = tar_bytes(
        (member("./usr/", tarfile.DIRTYPE, mode=0o1777), None),
        (setuid, b"#!/bin/sh\n"),
        (member("deep/er/file"), b"x"),  # parents the archive never listed
    )
    extract(raw, tmp_path / "out")
    shell = (tmp_path / "out/usr/bin/rootshell").lstat()
    assert stat.S_IMODE(shell.st_mode) == 0o600 and shell.st_uid == os.geteuid()
    assert stat.S_IMODE((tmp_path / "out/usr").lstat().st_mode) == 0o700
    assert (tmp_path / "out/deep/er/file").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "out").lstat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        (tarfile.FIFOTYPE, "a FIFO"),
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.LNKTYPE, "a hard link"),
    ],
)
def test_special_members_refuse_the_archive(tmp_path: Path, kind: bytes, named: str) -> None:
    raw = tar_bytes((member("boot/vmlinuz-1", kind, link="etc/shadow"), None))
    with pytest.raises(InvalidArgument, match=f"boot/vmlinuz-1 is {named}; .* only regular"):
        extract(raw, tmp_path / "out")
    assert not (tmp_path / "out/boot/vmlinuz-1").exists()


@pytest.mark.parametrize("name", ["/etc/cron.d/x", "../x", "a/../../x", "a/.."])
def test_names_outside_the_tree_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgument, match=r"absolute path|climbs out"):
        extract(tar_bytes((member(name), b"x")), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("boot/config", "/etc/shadow"),
        ("boot/config", "../../etc/shadow"),
        ("config", "../x"),
        ("boot/config", "real/../../../x"),  # '..' after a name: "real" could be a link
        ("boot/config", "."),
    ],
)
def test_symlinks_leading_out_are_refused(tmp_path: Path, name: str, target: str) -> None:
    raw = tar_bytes((member(name, tarfile.SYMTYPE, link=target), None))
    with pytest.raises(InvalidArgument, match="points outside the package"):
        extract(raw, tmp_path / "out")


def test_symlinks_inside_the_tree_are_kept(tmp_path: Path) -> None:
    raw = tar_bytes(
        (member("lib/real"), b"config"),
        (member("boot/config", tarfile.SYMTYPE, link="../lib/real"), None),
        (member("lib/alias", tarfile.SYMTYPE, link="real"), None),
    )
    extract(raw, tmp_path / "out")
    assert os.readlink(tmp_path / "out/boot/config") == "../lib/real"
    assert (tmp_path / "out/boot/config").read_bytes() == b"config"


def test_nothing_is_written_through_a_symlink(tmp_path: Path) -> None:
    raw = tar_bytes(
        (member("lib", tarfile.SYMTYPE, link="usr/lib"), None),
        (member("usr/lib/", tarfile.DIRTYPE), None),
        (member("lib/x"), b"through the link"),
    )
    with pytest.raises(InvalidArgument, match="lib/x lies below something that is not a dir"):
        extract(raw, tmp_path / "out")
    assert not (tmp_path / "out/usr/lib/x").exists()


def test_duplicates_are_refused(tmp_path: Path) -> None:
    raw = tar_bytes((member("a"), b"1"), (member("a"), b"2"))
    with pytest.raises(InvalidArgument, match="a appears twice"):
        extract(raw, tmp_path / "out")


def test_size_and_entry_limits(tmp_path: Path) -> None:
    raw = tar_bytes((member("a"), b"12345"), (member("b"), b"67890"))
    with pytest.raises(InvalidArgument, match="unpacks to more than"):
        extract(raw, tmp_path / "one", max_bytes=9)
    with pytest.raises(InvalidArgument, match="more than 1 entries"):
        extract(raw, tmp_path / "two", max_entries=1)
    extract(raw, tmp_path / "three", max_bytes=10, max_entries=2)


def test_a_huge_metadata_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    info = member("a")
    info.pax_headers = {"comment": "x" * (safetar.MAX_HEADER_BYTES + 1)}
    with pytest.raises(InvalidArgument, match=r"not a valid archive: .*metadata header"):
        extract(tar_bytes((info, b"x")), tmp_path / "out")


def test_garbage_and_truncation_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a valid archive"):
        extract(b"\x01" * 1024, tmp_path / "a")
    raw = tar_bytes((member("big"), b"x" * 5000))
    with pytest.raises(InvalidArgument, match=r"not a valid archive|cut short"):
        extract(raw[:1536], tmp_path / "b")


def test_cancellation_stops_between_members(tmp_path: Path) -> None:
    class Cancelling(NullReporter):
        def check_cancelled(self) -> None:
            raise Cancelled("cancelled")

    with pytest.raises(Cancelled):
        safetar.extract(
            io.BytesIO(tar_bytes((member("a"), b"1"))),
            tmp_path / "out",
            what="x",
            reporter=Cancelling(),
        )
