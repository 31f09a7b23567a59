"""Replay of hostile-but-small layers: clean rejections, clamps, sparse staging, deep trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from banger.oci.ext4 import debugfs_script, plan_size
from banger.oci.models import ReplayLimits
from banger.oci.replay import MAX_MTIME, RejectedLayer, StagingFull, replay_layers
from banger.oci.scratch import remove_tree
from banger.oci.stage_tree import materialize
from banger.oci.tree import ImageTree, Kind

from . import rawtar as r

MiB = 1 << 20


def replay(tmp_path: Path, *layers: bytes, limits: ReplayLimits | None = None, **kw):
    content = tmp_path / "content"
    content.mkdir(parents=True, exist_ok=True)
    blobs = []
    for index, data in enumerate(layers):
        blob = tmp_path / f"layer{index}"
        blob.write_bytes(data + r.END)
        blobs.append((blob, f"sha256:{index:064d}", None))
    tree = ImageTree()
    replayer = replay_layers(tree, blobs, content, limits or ReplayLimits(), **kw)
    return tree, replayer


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        (r.pax([("uid", "1" + "0" * 20)]) + r.member("f"), "pax uid '1000"),
        (r.pax([("uid", "-5")]) + r.member("f"), "pax uid '-5'"),
        (r.pax([("gid", "4294967295")]) + r.member("f"), "gid 4294967295 is out of range"),
        (r.member("f", uid=-5), "uid -5 is out of range"),
        (r.member("f", gid=2**40), "gid 1099511627776 is out of range"),
        (r.pax([("mtime", "1e30")]) + r.member("f"), "pax mtime '1e30'"),
        (r.pax([(b"SCHILY.xattr.user.a\0b", b"v")]) + r.member("f"), "unusable name"),
        (r.pax([("SCHILY.xattr.user.ü", b"v")]) + r.member("f"), "unusable name"),
        (r.pax([("SCHILY.xattr.user." + "n" * 300, b"v")]) + r.member("f"), "unusable"),
        (r.pax([("path", "a\0b")]) + r.member("f"), "line break or NUL"),
        (r.pax([("linkpath", "t\0u")]) + r.member("s", typeflag=b"2"), "NUL"),
        (r.member("dev", typeflag=b"3", extra={329: r.number(5000, 8)}), "device number"),
        (r.member("dump", b"x", typeflag=b"D"), "unsupported tar entry type"),
        (r.named(r.deep_path(300), b"x"), "deeper than 256 directories"),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_entry(tmp_path, layer, needle):
    with pytest.raises(RejectedLayer, match=needle) as info:
        replay(tmp_path, layer)
    assert "entry '" in info.value.message and info.value.hint


@pytest.mark.parametrize(
    ("mtime", "expected"),
    [("1" + "0" * 30, MAX_MTIME), ("4000000000.5", MAX_MTIME), ("-77.5", 0), ("1700.9", 1700)],
)
def test_mtime_is_clamped_to_what_both_build_routes_store(tmp_path, mtime, expected):
    tree, _ = replay(tmp_path, r.pax([("mtime", mtime)]) + r.member("f"))
    assert tree.lookup(["f"]).mtime == expected


def test_global_pax_headers_are_ignored_like_docker_does(tmp_path):
    tree, _ = replay(tmp_path, r.pax([("path", "renamed"), ("uid", "7")], b"g") + r.member("f"))
    assert tree.lookup(["f"]).uid == 0 and tree.lookup(["renamed"]) is None


@pytest.mark.parametrize("form", ["old-gnu", "pax-1.0"])
def test_sparse_members_stay_sparse_and_count_their_full_size(tmp_path, form):
    size = 256 * MiB
    pairs = [(8192, 4096), (size - 100, 100)]
    data = b"A" * 4096 + b"Z" * 100
    build = r.old_gnu_sparse if form == "old-gnu" else r.pax_sparse_10
    layer = b"".join(build("var/log/lastlog", size, pairs, data))[: -len(r.END)]
    tree, replayer = replay(tmp_path, layer, staging_budget=MiB)
    inode = tree.lookup(["var", "log", "lastlog"])
    assert (inode.size, inode.stored, replayer.total_bytes) == (size, 4196, size)
    st = inode.content.stat()
    assert st.st_size == size and st.st_blocks * 512 <= 64 * 1024
    with open(inode.content, "rb") as handle:
        assert handle.read(8192) == bytes(8192)
        assert handle.read(4096) == b"A" * 4096
        handle.seek(size - 100)
        assert handle.read() == b"Z" * 100
    assert plan_size(tree, 0, None)[0] < 64 * MiB  # holes take no blocks in the image


def test_sparse_apparent_size_is_what_the_file_limits_see(tmp_path):
    layer = b"".join(r.old_gnu_sparse("big", 10 * MiB, [(0, 10)], b"x" * 10))[: -len(r.END)]
    with pytest.raises(RejectedLayer, match="larger than 1048576 bytes"):
        replay(tmp_path, layer, limits=ReplayLimits(max_file_bytes=MiB))
    with pytest.raises(StagingFull):  # the budget counts data actually staged
        replay(tmp_path / "b", r.member("f", b"y" * 2000), staging_budget=1000)


def test_metadata_kept_in_memory_is_bounded(tmp_path):
    layer = b"".join(r.many_long_symlinks(20, 1000))[: -len(r.END)]
    with pytest.raises(RejectedLayer, match="names, link targets and xattrs exceed 10000"):
        replay(tmp_path, layer, limits=ReplayLimits(max_metadata_bytes=10_000))


def test_implied_parent_directories_count_as_entries(tmp_path):
    layer = b"".join(r.many_deep_paths(30, depth=10))[: -len(r.END)]
    tree, _ = replay(tmp_path, layer, limits=ReplayLimits(max_entries=400))
    assert tree.implied_dirs == 30 * 11
    with pytest.raises(RejectedLayer, match=r"more than 200 entries \(counting parent directories"):
        replay(tmp_path / "b", layer, limits=ReplayLimits(max_entries=200))


DEEP = 1000  # past Python's default recursion limit of 1000 frames


def test_deep_trees_replay_whiteout_walk_stage_and_clean_without_recursion(tmp_path):
    limits = ReplayLimits(max_depth=1024)
    deep = r.named(r.deep_path(DEEP), b"x") + r.named(r.deep_path(DEEP - 1), b"y")
    tree, _ = replay(tmp_path, deep, limits=limits)
    assert sum(1 for _ in tree.walk()) == DEEP + 3
    assert plan_size(tree, 0, None)[1] > DEEP
    assert debugfs_script(tree, tmp_path).count(b"sif") >= 6 * DEEP

    staging = tmp_path / "stage"
    staging.mkdir()
    try:
        materialize(tree, staging, metadata_on_host=os.geteuid() == 0)
        leaf = os.open(staging, os.O_RDONLY)
        try:
            for _ in range(DEEP - 1):
                leaf = _enter(leaf, "d")
            assert sorted(os.listdir(leaf)) == ["d", "f"]
        finally:
            os.close(leaf)
    finally:
        remove_tree(staging)  # also what pytest's own (recursive) cleanup could not do
    assert not staging.exists()

    whiteout, _ = replay(tmp_path / "w", deep, r.member(".wh.d"), limits=limits)
    assert list(whiteout.walk()) == [("", whiteout.root)]
    opaque, _ = replay(tmp_path / "o", deep, r.member(".wh..wh..opq"), limits=limits)
    assert list(opaque.walk()) == [("", opaque.root)]


def _enter(fd: int, name: str) -> int:
    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    return sub


def test_remove_tree_handles_symlinks_files_and_missing_paths(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    victim = tmp_path / "victim"
    (victim / "a" / "b").mkdir(parents=True)
    (victim / "a" / "b" / "f").write_bytes(b"f")
    os.symlink(outside, victim / "a" / "link")
    os.mkfifo(victim / "fifo")
    remove_tree(victim)
    assert not victim.exists() and (outside / "keep").exists()
    remove_tree(victim)  # already gone: fine
    lone = tmp_path / "lone"
    lone.write_bytes(b"")
    remove_tree(lone)
    assert not lone.exists()


def test_replayed_kinds_survive_the_new_reader(tmp_path):
    tree, _ = replay(
        tmp_path,
        r.member("dev/null", typeflag=b"3", extra={329: r.number(1, 8), 337: r.number(3, 8)})
        + r.member("fifo", typeflag=b"6")
        + r.member("v7file\0"[:-1], b"old", typeflag=b"\0")
        + r.member("v7dir/", typeflag=b"\0"),
    )
    null = tree.lookup(["dev", "null"])
    assert (null.kind, null.major, null.minor) == (Kind.CHAR, 1, 3)
    assert tree.lookup(["fifo"]).kind is Kind.FIFO
    assert tree.lookup(["v7file"]).content.read_bytes() == b"old"
    assert tree.lookup(["v7dir"]).kind is Kind.DIR
