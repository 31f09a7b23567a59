"""Hostile layers through a real registry and the whole build: clean errors, no leftovers,
sparse files that stay sparse in the ext4, and trees deeper than Python's recursion limit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import zstandard

from banger.errors import BangerError
from banger.oci import RejectedLayer, ReplayLimits, pull_image
from banger.ops.reporter import NullReporter
from tests.helpers.registry import LAYER_TAR, LAYER_ZSTD
from tests.unit.oci import rawtar as r

from .debugfs_read import stat_many

pytestmark = pytest.mark.integration
MiB = 1 << 20


def push(registry, name: str, *tars: bytes, zstd: bool = False) -> None:
    layers = []
    for tar in tars:
        data = tar + r.END
        blob = zstandard.ZstdCompressor().compress(data) if zstd else data
        layers.append((blob, LAYER_ZSTD if zstd else LAYER_TAR, data))
    registry.push_image(name, "v1", layers)


def pull(registry, name: str, tmp: Path, **kw):
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "ram").mkdir(exist_ok=True)
    return pull_image(
        f"{registry.address}/{name}:v1",
        out_ext4=tmp / "root.ext4",
        cache_dir=tmp / "cache",
        work_dir=tmp / "work",
        ram_dir=tmp / "ram",
        insecure_registries=[registry.address],
        reporter=NullReporter(),
        free_bytes=4 * MiB,
        **kw,
    )


def nothing_left(tmp: Path) -> None:
    assert list((tmp / "ram").iterdir()) == []
    assert list((tmp / "work").iterdir()) == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".root.ext4")] == []


def test_sparse_file_stays_sparse_into_the_ext4(registry, tmp_path):
    size = 128 * MiB
    pairs = [(4096, 4096), (size - 10, 10)]
    sparse = b"".join(r.old_gnu_sparse("var/log/lastlog", size, pairs, b"L" * 4096 + b"T" * 10))
    push(registry, "hostile/sparse", sparse[: -len(r.END)] + r.member("etc/x", b"x"), zstd=True)
    image = pull(registry, "hostile/sparse", tmp_path)
    assert image.size_bytes < 64 * MiB  # planned from the data, not the holes
    out = tmp_path / "root.ext4"
    assert stat_many(out, ["/var/log/lastlog"])["/var/log/lastlog"].size == size
    blocks = subprocess.run(
        ["debugfs", "-R", "blocks /var/log/lastlog", str(out)], capture_output=True, text=True
    ).stdout.split()
    assert 1 <= len(blocks) <= 4
    dumped = tmp_path / "dumped"
    subprocess.run(["debugfs", "-R", f"dump /var/log/lastlog {dumped}", str(out)], check=True)
    with open(dumped, "rb") as handle:
        assert handle.read(4096) == bytes(4096) and handle.read(4096) == b"L" * 4096
        handle.seek(size - 10)
        assert handle.read() == b"T" * 10
    nothing_left(tmp_path)


@pytest.mark.parametrize(
    ("layer", "needle"),
    [
        (r.pax([("uid", "1" + "0" * 20)]) + r.member("f"), "pax uid"),
        (r.member("f", uid=-5), "uid -5 is out of range"),
        (r.pax([("mtime", "1e30")]) + r.member("f"), "pax mtime"),
        (r.pax([(b"SCHILY.xattr.user.a\0b", b"v")]) + r.member("f"), "unusable name"),
        (r.header("././@LongLink", b"L", size=64 * MiB) + bytes(64 * MiB), "GNU long name"),
        (r.named(r.deep_path(2040), b"x"), "deeper than 256"),
    ],
    ids=["uid-1e20", "uid-negative", "mtime-1e30", "xattr-nul", "longname-64MiB", "deep"],
)
def test_hostile_image_is_a_clean_rejection_with_nothing_left(registry, tmp_path, layer, needle):
    name = f"hostile/x{abs(hash(needle)) % 10**8}"
    push(registry, name, r.member("ok", b"fine"), layer, zstd=True)
    with pytest.raises(RejectedLayer, match=needle) as info:
        pull(registry, name, tmp_path)
    assert isinstance(info.value, BangerError) and info.value.hint
    nothing_left(tmp_path)


def test_tree_deeper_than_the_recursion_limit_builds_and_cleans_up(registry, tmp_path):
    deep = r.named(r.deep_path(1000), b"bottom") + r.named(r.deep_path(500), b"middle")
    push(registry, "hostile/deep", deep, zstd=True)
    pull(registry, "hostile/deep", tmp_path, limits=ReplayLimits(max_depth=1024))
    found = stat_many(tmp_path / "root.ext4", ["/" + r.deep_path(1000), "/" + r.deep_path(500)])
    assert [s.size for s in found.values()] == [6, 6]
    nothing_left(tmp_path)  # the 1000-deep staging tree went away too
