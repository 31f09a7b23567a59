"""Each hostile layer, replayed in a child process: a banger error and a bounded peak RSS.

Every layer here is a few KiB to a few MiB of zstd that expands to hundreds of MiB of
tar. With tarfile, these peaked at 1-6 GiB or died of RecursionError/MemoryError (see
docs/oci-import.md); the child's address space is capped at 6 GiB to keep a regression
from taking the host down with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from . import rawtar as r
from .rss_probe import probe

PEAK_LIMIT_MIB = 512
MiB = 1 << 20

HOSTILE: dict[str, Callable[[], r.Chunks]] = {
    "gnu-longname-512MiB": lambda: r.huge_gnu_long(b"L", 512 * MiB),
    "gnu-longlink-512MiB": lambda: r.huge_gnu_long(b"K", 512 * MiB),
    "pax-header-512MiB": lambda: r.huge_pax(b"x", 512 * MiB),
    "pax-global-512MiB": lambda: r.huge_pax(b"g", 512 * MiB),
    "pax-chain-5000": lambda: r.chained_pax(5000),
    "gnu-sparse-128MiB-of-map": lambda: r.old_gnu_sparse(
        "s", 1 << 20, [(0, 1)], b"x", ext_blocks=(128 * MiB) // 512
    ),
    "pax-sparse-1.0-map-of-64M-pairs": lambda: r.pax_sparse_10_huge_map(64 << 20),
    "120k-symlinks-with-4KB-targets": lambda: r.many_long_symlinks(120_000),
    "12k-entries-with-60KB-xattrs": lambda: r.many_big_xattrs(12_000),
    "600-entries-with-30k-tiny-xattrs": lambda: r.many_tiny_xattrs(600),
    "20k-files-each-under-250-implied-dirs": lambda: r.many_deep_paths(20_000),
    "path-2040-deep": lambda: iter([r.named(r.deep_path(2040), b"x"), r.END]),
    "pax-uid-1e20": lambda: iter([r.pax([("uid", "1" + "0" * 20)]), r.member("f"), r.END]),
    "pax-uid-negative": lambda: iter([r.pax([("uid", "-5")]), r.member("f"), r.END]),
    "pax-mtime-1e30": lambda: iter([r.pax([("mtime", "1e30")]), r.member("f"), r.END]),
    "xattr-name-with-nul": lambda: iter(
        [r.pax([(b"SCHILY.xattr.user.a\0b", b"v")]), r.member("f"), r.END]
    ),
    "base256-uid-negative": lambda: iter([r.member("f", uid=-5), r.END]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_layer_is_a_banger_error_within_bounded_memory(tmp_path: Path, name: str):
    blob = r.write_zstd(tmp_path / "layer.zst", HOSTILE[name]())
    assert blob.stat().st_size < 8 * MiB  # the test itself stays small
    outcome = probe([blob], tmp_path / "scratch")
    assert outcome.kind == "banger:image_rejected", outcome
    assert "layer sha256:" in outcome.message and "hint:" in outcome.message
    assert outcome.peak_rss_mib < PEAK_LIMIT_MIB, outcome


def test_whiting_out_a_deep_tree_is_not_a_recursion(tmp_path: Path):
    deep = r.write_zstd(tmp_path / "deep.zst", [r.named(r.deep_path(1020), b"x"), r.END])
    gone = r.write_zstd(tmp_path / "gone.zst", [r.member(".wh.d"), r.END])
    outcome = probe([deep, gone], tmp_path / "scratch", {"max_depth": 1024})
    assert outcome.kind == "ok", outcome


def test_sparse_member_is_staged_sparse(tmp_path: Path):
    pairs = [(0, 4096), ((256 * MiB) - 4096, 4096)]
    layer = r.old_gnu_sparse("var/log/lastlog", 256 * MiB, pairs, b"d" * 8192)
    outcome = probe([r.write_zstd(tmp_path / "sparse.zst", layer)], tmp_path / "scratch")
    assert outcome.kind == "ok", outcome
    assert outcome.staged_bytes <= 64 * 1024  # was 256 MiB of written zeros
    assert outcome.peak_rss_mib < PEAK_LIMIT_MIB
