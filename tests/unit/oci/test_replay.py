import tarfile
from pathlib import Path

import pytest

from banger.oci.ext4 import debugfs_script, plan_size
from banger.oci.models import ReplayLimits
from banger.oci.replay import RejectedLayer, replay_layers
from banger.oci.tree import ImageTree, Kind

from .tarbuild import compress, device, directory, file, hardlink, make_tar, symlink


def replay(
    tmp_path: Path, *layers: list, limits: ReplayLimits | None = None, how: str = "plain"
) -> ImageTree:
    tree = ImageTree()
    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    blobs = []
    for index, entries in enumerate(layers):
        blob = tmp_path / f"layer{index}"
        blob.write_bytes(compress(make_tar(entries), how))
        blobs.append((blob, f"sha256:{index:064d}", None))
    replay_layers(tree, blobs, content, limits or ReplayLimits())
    return tree


def paths(tree: ImageTree) -> set[str]:
    return {p for p, _ in tree.walk() if p}


@pytest.mark.parametrize("how", ["plain", "gzip", "zstd"])
def test_compressions_and_metadata(tmp_path, how):
    tree = replay(
        tmp_path,
        [directory("etc", mode=0o1777), file("etc/x", b"data", mode=0o4755, uid=7, gid=8)],
        how=how,
    )
    x = tree.lookup(["etc", "x"])
    assert (
        x is not None
        and x.kind is Kind.FILE
        and (x.mode, x.uid, x.gid, x.size) == (0o4755, 7, 8, 4)
    )
    assert x.content is not None and x.content.read_bytes() == b"data"
    assert tree.lookup(["etc"]).mode == 0o1777


def test_whiteouts_opaque_and_recreate(tmp_path):
    tree = replay(
        tmp_path,
        [file("a/keep"), file("a/gone"), file("d/old/deep"), file("w/x"), file("top")],
        [file("a/.wh.gone"), file("d/.wh..wh..opq"), file("d/new"), file(".wh.w"), file(".wh.top")],
        [directory("w"), file("w/again")],
    )
    assert paths(tree) == {"a", "a/keep", "d", "d/new", "w", "w/again"}


def test_opaque_keeps_same_layer_entries_in_any_order(tmp_path):
    tree = replay(
        tmp_path,
        [file("d/sub/lower")],
        [directory("d/sub"), file("d/sub/upper"), file("d/.wh..wh..opq")],
    )
    assert paths(tree) == {"d", "d/sub", "d/sub/upper"}


def test_overwritten_content_is_freed(tmp_path):
    tree = replay(tmp_path, [file("f", b"one")], [file("f", b"two")])
    assert len(list((tmp_path / "content").iterdir())) == 1
    assert tree.lookup(["f"]).content.read_bytes() == b"two"


def test_hardlinks_share_inode_and_devices_stay_in_tree(tmp_path):
    tree = replay(
        tmp_path,
        [
            file("bin/a", b"A"),
            hardlink("bin/b", "bin/a"),
            device("dev/null", tarfile.CHRTYPE, 1, 3),
        ],
    )
    assert tree.lookup(["bin", "a"]) is tree.lookup(["bin", "b"])
    null = tree.lookup(["dev", "null"])
    assert (null.kind, null.major, null.minor) == (Kind.CHAR, 1, 3)
    script = debugfs_script(tree, tmp_path)
    assert b'mknod "null" c 1 3' in script


def test_symlink_replaced_by_directory_is_safe(tmp_path):
    tree = replay(
        tmp_path, [symlink("evil", "/etc")], [directory("evil"), file("evil/passwd", b"p")]
    )
    assert tree.lookup(["evil"]).kind is Kind.DIR
    assert tree.lookup(["evil", "passwd"]).content.read_bytes() == b"p"


def test_absolute_symlinks_are_kept_verbatim(tmp_path):
    tree = replay(
        tmp_path, [symlink("etc/alternatives/x", "/usr/bin/y"), symlink("up", "../../../../etc")]
    )
    assert tree.lookup(["etc", "alternatives", "x"]).target == "/usr/bin/y"
    assert tree.lookup(["up"]).target == "../../../../etc"


def test_leading_slash_is_contained(tmp_path):
    tree = replay(tmp_path, [file("/etc/abs", b"a")])
    assert paths(tree) == {"etc", "etc/abs"}


@pytest.mark.parametrize(
    ("layers", "needle"),
    [
        ([[file("../escape")]], "'..'"),
        ([[file("a/../../escape")]], "'..'"),
        ([[symlink("link", "/etc")], [file("link/passwd")]], "is a symlink"),
        ([[symlink("l1", "l2"), symlink("l2", "/")], [file("l1/x")]], "is a symlink"),
        ([[file("f")], [file("f/child")]], "not a directory"),
        ([[hardlink("h", "/etc/shadow")]], "missing entry"),
        ([[hardlink("h", "../outside")]], "'..'"),
        ([[symlink("s", "/etc"), hardlink("h", "s/passwd")]], "missing entry"),
        ([[directory("d"), hardlink("h", "d")]], "hard link to a directory"),
        ([[symlink("s", "/tmp")], [file("s/.wh.x")]], "is a symlink"),
        ([[file("bad\nname")]], "line break"),
        ([[file("a" * 300)]], "exceeds 255"),
    ],
)
def test_hostile_layers_are_rejected_naming_layer_and_entry(tmp_path, layers, needle):
    with pytest.raises(RejectedLayer) as info:
        replay(tmp_path, *layers)
    assert needle in info.value.message
    assert "layer sha256:" in info.value.message and "entry" in info.value.message


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        (ReplayLimits(max_entries=3), "more than 3 entries"),
        (ReplayLimits(max_file_bytes=10), "larger than 10 bytes"),
        (ReplayLimits(max_total_bytes=15), "exceeds 15 bytes"),
        (ReplayLimits(max_path_length=8), "longer than 8"),
    ],
)
def test_limits(tmp_path, limits, needle):
    with pytest.raises(RejectedLayer, match=needle):
        replay(
            tmp_path,
            [
                file("a", b"1" * 8),
                file("b", b"2" * 8),
                file("c/long/path/name", b"3" * 11),
                file("d"),
            ],
            limits=limits,
        )


def test_corrupt_layer_is_a_clear_error(tmp_path):
    blob = tmp_path / "bad"
    blob.write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(RejectedLayer, match="not a readable tar stream"):
        replay_layers(ImageTree(), [(blob, "sha256:" + "0" * 64, None)], tmp_path, ReplayLimits())


def test_diff_id_mismatch_rejected(tmp_path):
    blob = tmp_path / "l"
    blob.write_bytes(make_tar([file("a")]))
    with pytest.raises(RejectedLayer, match="image config says"):
        replay_layers(
            ImageTree(),
            [(blob, "sha256:" + "0" * 64, "sha256:" + "1" * 64)],
            tmp_path,
            ReplayLimits(),
        )


def test_size_plan_grows_with_content_and_refuses_too_small(tmp_path):
    small = replay(tmp_path, [file("a", b"x")])
    size_small, _ = plan_size(small, 0, None)
    big_tmp = tmp_path / "big"
    big_tmp.mkdir()
    big = replay(big_tmp, [file(f"f{i}", b"y" * 100_000) for i in range(50)])
    size_big, inodes = plan_size(big, 0, None)
    assert size_big >= size_small + 50 * 100_000 and inodes >= 50
    assert plan_size(big, 64 << 20, None)[0] >= size_big + (64 << 20)
    with pytest.raises(Exception, match="below the"):
        plan_size(big, 0, 1 << 20)
