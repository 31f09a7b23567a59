"""The fast paths of `image pull` give the same image as the slow ones.

- owner/mode/times/xattrs set on staged host inodes (root) vs all by debugfs;
- a warm pull cloned from the rootfs cache vs the cold build;
- staging in RAM vs spilling to work_dir when the RAM budget is exceeded.
"""

import hashlib
import tarfile
from pathlib import Path

import pytest

from banger.oci import cache_list, cache_prune, pull_image
from banger.oci.ext4 import build_ext4, plan_size
from banger.oci.models import ReplayLimits
from banger.oci.replay import replay_layers
from banger.oci.tree import ImageTree
from banger.ops.reporter import NullReporter
from tests.helpers.registry import LAYER_GZIP
from tests.unit.oci.tarbuild import compress, device, directory, file, hardlink, make_tar, symlink

from .debugfs_read import stat_many

pytestmark = pytest.mark.integration

CAP = bytes.fromhex("0100000200200000000000000000000000000000")
ENTRIES = [
    directory("etc", mode=0o750, uid=3, gid=4, mtime=1_500_000_000),
    directory("tmp", mode=0o1777),
    file("etc/owned", b"o", uid=1000, gid=100, mode=0o640, mtime=1_600_000_000),
    file("usr/bin/su", b"su" * 5000, mode=0o4755),
    hardlink("usr/bin/su2", "usr/bin/su"),
    file("usr/bin/wall", b"w", mode=0o2755, gid=5),
    file("usr/bin/ping", b"p", xattrs={"security.capability": CAP, "user.note": b"hi"}),
    directory("secret", mode=0o000, uid=7, xattrs={"user.dir": b"d"}),
    file("secret/inside", b"s", mode=0o400, uid=7, gid=7),
    symlink("bin", "usr/bin"),
    device("dev/null", tarfile.CHRTYPE, 1, 3),
    device("dev/fifo", tarfile.FIFOTYPE, 0, 0, mode=0o600),
]
PATHS = ["/etc", "/tmp", "/etc/owned", "/usr/bin/su", "/usr/bin/su2", "/usr/bin/wall"]
PATHS += ["/usr/bin/ping", "/secret", "/secret/inside", "/bin", "/dev/null", "/dev/fifo"]


def _build(tmp: Path, *, metadata_on_host: bool) -> Path:
    tmp.mkdir()
    blob = tmp / "layer"
    blob.write_bytes(make_tar(ENTRIES))
    (tmp / "content").mkdir()
    tree = ImageTree()
    replay_layers(tree, [(blob, "sha256:" + "0" * 64, None)], tmp / "content", ReplayLimits())
    size, inodes = plan_size(tree, 1 << 20, None)
    (tmp / "root").mkdir()
    out = tmp / "out.ext4"
    build_ext4(
        tree,
        staging=tmp / "root",
        scratch=tmp,
        out_tmp=out,
        size=size,
        inode_count=inodes,
        metadata_on_host=metadata_on_host,
    )
    return out


def _xattrs(text: str) -> str:
    # Only the attribute lines: the inode checksum after them covers ctime (build time).
    return "\n".join(line.strip() for line in text.splitlines() if " = " in line)


def _summary(image: Path) -> dict:
    return {
        p: (s.mode, s.uid, s.gid, s.links, s.mtime, s.size, _xattrs(s.xattrs), s.device)
        for p, s in stat_many(image, PATHS).items()
    }


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
    reason="host metadata route needs root",
)
def test_host_metadata_route_equals_debugfs_route(tmp_path):
    fast = _summary(_build(tmp_path / "fast", metadata_on_host=True))
    slow = _summary(_build(tmp_path / "slow", metadata_on_host=False))
    assert fast == slow
    assert fast["/secret"][:3] == (0o40000, 7, 0) and "user.dir" in fast["/secret"][6]
    assert fast["/usr/bin/su"][0] == 0o104755 and fast["/usr/bin/su"][3] == 2
    assert "security.capability" in fast["/usr/bin/ping"][6]
    assert fast["/etc"][4] == 1_500_000_000


def _pull(registry, tmp: Path, name: str, **kw):
    return pull_image(
        f"{registry.address}/fast/img:v1",
        out_ext4=tmp / f"{name}.ext4",
        cache_dir=tmp / "cache",
        work_dir=tmp / "work",
        insecure_registries=[registry.address],
        reporter=kw.pop("reporter", NullReporter()),
        free_bytes=4 << 20,
        **kw,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_warm_pull_clones_cached_rootfs_and_prune_honours_manifest(registry, tmp_path):
    tar = make_tar(ENTRIES)
    registry.push_image("fast/img", "v1", [(compress(tar, "gzip"), LAYER_GZIP, tar)])
    cold = _pull(registry, tmp_path, "cold")
    reporter = NullReporter()
    warm = _pull(registry, tmp_path, "warm", reporter=reporter)
    assert "clone cached rootfs" in reporter.stages and "unpack layers" not in reporter.stages
    assert _digest(tmp_path / "cold.ext4") == _digest(tmp_path / "warm.ext4")
    assert warm.model_dump(exclude={"downloaded_bytes", "downloaded_layers", "cached_layers"}) == (
        cold.model_dump(exclude={"downloaded_bytes", "downloaded_layers", "cached_layers"})
    )
    assert (warm.downloaded_bytes, warm.cached_layers) == (0, 1)
    # Another free_bytes is another build, not a cache hit.
    other = NullReporter()
    pull_image(
        f"{registry.address}/fast/img:v1",
        out_ext4=tmp_path / "other.ext4",
        cache_dir=tmp_path / "cache",
        work_dir=tmp_path / "work",
        insecure_registries=[registry.address],
        reporter=other,
        free_bytes=8 << 20,
    )
    assert "unpack layers" in other.stages
    rootfs = [e for e in cache_list(tmp_path / "cache") if e.kind == "rootfs"]
    assert len(rootfs) == 2 and {e.digest for e in rootfs} == {cold.manifest_digest}
    everything = {e.digest for e in cache_list(tmp_path / "cache")}
    assert cache_prune(tmp_path / "cache", keep=everything) == 0
    assert len([e for e in cache_list(tmp_path / "cache") if e.kind == "rootfs"]) == 2
    assert cache_prune(tmp_path / "cache", keep=set(cold.layers)) > 0
    assert [e for e in cache_list(tmp_path / "cache") if e.kind == "rootfs"] == []
    assert sorted(p.name for p in (tmp_path / "cache" / "rootfs").iterdir()) == []
    assert list((tmp_path / "work").iterdir()) == []


def test_ram_staging_spills_to_work_dir_with_same_result(registry, tmp_path):
    tar = make_tar(ENTRIES)
    registry.push_image("fast/img", "v1", [(compress(tar, "gzip"), LAYER_GZIP, tar)])
    ram = tmp_path / "ram"
    ram.mkdir()
    in_ram = _pull(registry, tmp_path / "a", "root", ram_dir=ram)
    spilled = _pull(registry, tmp_path / "b", "root", ram_dir=ram, ram_budget=1000)
    on_disk = _pull(registry, tmp_path / "c", "root", ram_dir=None)
    assert in_ram.size_bytes == spilled.size_bytes == on_disk.size_bytes
    summaries = [_summary(tmp_path / d / "root.ext4") for d in ("a", "b", "c")]
    assert summaries[0] == summaries[1] == summaries[2]
    assert list(ram.iterdir()) == []
    for d in ("a", "b", "c"):
        assert list((tmp_path / d / "work").iterdir()) == []
