"""debugfs write/read/stat on real ext4 images made with mke2fs (no mount, no root)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from banger.disks import debugfs
from banger.errors import CommandFailed, InvalidArgument, NotFound
from banger.guest import GuestFile


@pytest.fixture
def image(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/existing").write_text("old contents that are longer\n")
    path = tmp_path / "img.ext4"
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", tree, path, "16M"], check=True
    )
    return path


def test_write_creates_dirs_replaces_files_and_sets_owner(image: Path) -> None:
    files = [
        GuestFile("/banger/deep/er/file", b"\x00binary\xff", 0o640, uid=1000, gid=27),
        GuestFile("/etc/existing", b"new\n", 0o600),
        GuestFile("/banger/init", b"#!/bin/sh\n", 0o4755),
    ]
    debugfs.write_files(image, files)
    assert debugfs.read_file(image, "/banger/deep/er/file") == b"\x00binary\xff"
    assert debugfs.read_file(image, "/etc/existing") == b"new\n"
    st = debugfs.stat(image, "/banger/deep/er/file")
    assert (st.type, st.mode, st.uid, st.gid, st.size) == ("regular", 0o640, 1000, 27, 8)
    assert debugfs.stat(image, "/banger/init").mode == 0o4755
    assert debugfs.stat(image, "/banger/deep").type == "directory"
    # e2fsck must find the image consistent after our edits.
    subprocess.run(["e2fsck", "-f", "-n", image], check=True, capture_output=True)


def test_rewrite_is_idempotent(image: Path) -> None:
    debugfs.write_files(image, [GuestFile("/a/b", b"one", 0o644)])
    debugfs.write_files(image, [GuestFile("/a/b", b"two", 0o644)])
    assert debugfs.read_file(image, "/a/b") == b"two"
    subprocess.run(["e2fsck", "-f", "-n", image], check=True, capture_output=True)


@pytest.mark.parametrize("path", ["relative", "/a b", "/a/../b", "/x\nrm /etc", "/a;b"])
def test_unsafe_guest_paths_are_rejected(image: Path, path: str) -> None:
    with pytest.raises(InvalidArgument):
        debugfs.write_files(image, [GuestFile(path, b"x", 0o644)])


def test_directory_in_the_way_fails_loudly(image: Path) -> None:
    with pytest.raises(CommandFailed):
        debugfs.write_files(image, [GuestFile("/etc", b"x", 0o644)])


def test_image_full_fails_loudly(tmp_path: Path) -> None:
    small = tmp_path / "small.ext4"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", small, "2M"], check=True)
    with pytest.raises(CommandFailed):
        debugfs.write_files(small, [GuestFile("/big", b"\x01" * (4 << 20), 0o644)])


def test_not_an_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00" * 65536)
    with pytest.raises(CommandFailed):
        debugfs.write_files(junk, [GuestFile("/a", b"x", 0o644)])
    with pytest.raises(NotFound):
        debugfs.write_files(tmp_path / "absent", [])


def test_read_missing_file(image: Path) -> None:
    with pytest.raises(NotFound):
        debugfs.read_file(image, "/nope")
    with pytest.raises(NotFound):
        debugfs.stat(image, "/nope")
