"""One ext4 sizing: `image pull` (an ImageTree in memory) and make_ext4 (a directory on
disk) size the same content alike and refuse a too-small size alike, because both count
with banger.disks.ext4_sizing's rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from banger.disks.ext4 import make_ext4
from banger.disks.ext4_sizing import measure_tree, size_for_usage
from banger.errors import InvalidArgument
from banger.oci.ext4 import plan_size, tree_usage

from .tarbuild import directory, file, hardlink, symlink
from .test_replay import replay

MIB = 1 << 20
BIG = os.urandom(3 * MIB + 5)
ENTRIES = [
    directory("etc"),
    file("etc/hostname", b"box\n"),
    file("usr/lib/big.bin", BIG),
    hardlink("usr/lib/big-again.bin", "usr/lib/big.bin"),
    symlink("usr/lib/short", "big.bin"),
    symlink("usr/lib/long", "x" * 200),
    *[file(f"many/entry-with-a-rather-long-name-{i:04d}", b"") for i in range(300)],
]


def _as_directory(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_bytes(b"box\n")
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/big.bin").write_bytes(BIG)
    os.link(root / "usr/lib/big.bin", root / "usr/lib/big-again.bin")
    (root / "usr/lib/short").symlink_to("big.bin")
    (root / "usr/lib/long").symlink_to("x" * 200)
    (root / "many").mkdir()
    for i in range(300):
        (root / f"many/entry-with-a-rather-long-name-{i:04d}").write_bytes(b"")
    return root


def test_pull_and_make_ext4_count_the_same_content_alike(tmp_path: Path) -> None:
    tree = replay(tmp_path, ENTRIES)
    directory_usage = measure_tree(_as_directory(tmp_path / "dir"))
    assert tree_usage(tree) == directory_usage
    expected = size_for_usage(directory_usage, free_bytes=8 * MIB)
    assert plan_size(tree, 8 * MIB, None) == (expected.bytes, expected.inodes)


def test_a_too_small_size_is_refused_alike(tmp_path: Path) -> None:
    tree = replay(tmp_path, ENTRIES)
    source = _as_directory(tmp_path / "dir")
    with pytest.raises(InvalidArgument) as pulled:
        plan_size(tree, 0, MIB)
    with pytest.raises(InvalidArgument) as made:
        make_ext4(source, tmp_path / "out.ext4", size_bytes=MIB)
    assert pulled.value.message == made.value.message
    assert pulled.value.hint == made.value.hint
