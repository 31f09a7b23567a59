"""The newc writer, read back with the real cpio(1)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

from banger.kernels import cpio


def archive(entries: list[cpio.CpioEntry]) -> bytes:
    buffer = io.BytesIO()
    cpio.write_newc(buffer, entries)
    return buffer.getvalue()


ENTRIES = [
    cpio.directory("bin"),
    cpio.regular("bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
    cpio.directory("etc", 0o700),
    cpio.regular("etc/odd-len", b"x" * 13, 0o640),
    cpio.regular("etc/empty", b""),
    cpio.symlink("bin/sh", "tool"),
    cpio.char_device("console", 5, 1),
]


def test_listing_matches_entries() -> None:
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=archive(ENTRIES), capture_output=True, check=True
    )
    assert listing.stdout.decode().split() == [e.name for e in ENTRIES]


def test_extract_round_trip(tmp_path: Path) -> None:
    subprocess.run(
        ["cpio", "-i", "--quiet", "--make-directories", "--no-absolute-filenames"],
        input=archive([e for e in ENTRIES if not stat.S_ISCHR(e.mode)]),
        cwd=tmp_path,
        check=True,
    )
    assert (tmp_path / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o755
    assert (tmp_path / "etc/odd-len").read_bytes() == b"x" * 13
    assert stat.S_IMODE((tmp_path / "etc/odd-len").stat().st_mode) == 0o640
    assert (tmp_path / "etc/empty").stat().st_size == 0
    assert os.readlink(tmp_path / "bin/sh") == "tool"


def test_device_node_and_owner_in_verbose_listing() -> None:
    entries = [cpio.char_device("dev-console", 5, 1), cpio.CpioEntry("owned", 0o100600, b"a", 7, 9)]
    listing = subprocess.run(
        ["cpio", "-tv", "--quiet", "--numeric-uid-gid"],
        input=archive(entries),
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = listing.splitlines()
    assert lines[0].startswith("crw-------")
    assert "5,   1" in lines[0] or "5, 1" in lines[0]
    assert lines[1].split()[2:4] == ["7", "9"]


def test_archive_is_padded_to_512() -> None:
    assert len(archive(ENTRIES)) % 512 == 0
