"""A Debian minbase rootfs (~8,700 entries) pushed as one layer must land entry for entry."""

import collections
import tarfile
import time

import pytest

from banger.oci import pull_image
from banger.ops.reporter import NullReporter
from tests.helpers.debian_tarballs import minbase_tarball
from tests.helpers.registry import LAYER_TAR

from .debugfs_read import stat_many

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_minbase_matches_tarball(registry, tmp_path):
    tarball = minbase_tarball()
    data = tarball.read_bytes()
    registry.push_image("debian/minbase", "bookworm", [(data, LAYER_TAR, data)])
    started = time.monotonic()
    image = pull_image(
        f"{registry.address}/debian/minbase:bookworm",
        out_ext4=tmp_path / "root.ext4",
        cache_dir=tmp_path / "cache",
        work_dir=tmp_path / "work",
        insecure_registries=[registry.address],
        reporter=NullReporter(),
    )
    print(f"pull of {len(data) >> 20} MiB minbase took {time.monotonic() - started:.1f}s")
    assert image.downloaded_layers == 1

    expected = {}
    names_per_inode = collections.Counter()
    first_name = {}
    with tarfile.open(tarball) as archive:
        for member in archive:
            path = (
                "/" + member.name.lstrip("./").rstrip("/")
                if member.name not in (".", "./")
                else "/"
            )
            if member.islnk():
                target = "/" + member.linkname.lstrip("./")
                first_name.setdefault(target, target)
                names_per_inode[target] += 1
                expected[path] = ("link", target)
                continue
            names_per_inode.setdefault(path, 1) if not member.isdir() else None
            kind = {
                tarfile.REGTYPE: 0o100000,
                tarfile.AREGTYPE: 0o100000,
                tarfile.DIRTYPE: 0o040000,
                tarfile.SYMTYPE: 0o120000,
                tarfile.CHRTYPE: 0o020000,
                tarfile.BLKTYPE: 0o060000,
                tarfile.FIFOTYPE: 0o010000,
            }[member.type]
            device = (
                (member.devmajor, member.devminor) if member.ischr() or member.isblk() else None
            )
            expected[path] = (kind | member.mode, member.uid, member.gid, int(member.mtime), device)
    assert len(expected) > 5000
    stats = stat_many(tmp_path / "root.ext4", sorted(expected))
    mismatches = []
    for path, want in expected.items():
        got = stats[path]
        if want[0] == "link":
            base = expected[want[1]]
            want = base
        if path == "/":
            continue  # the root's mtime/owner come from the tar's "./" entry as well; checked below
        if (got.mode, got.uid, got.gid, got.mtime, got.device) != want:
            mismatches.append((path, want, (got.mode, got.uid, got.gid, got.mtime, got.device)))
        if (
            not (want[0] & 0o040000)
            and path in names_per_inode
            and got.links != names_per_inode[path]
        ):
            mismatches.append((path, "links", names_per_inode[path], got.links))
    assert mismatches == [], mismatches[:10]
    setuid = [p for p, w in expected.items() if w[0] != "link" and w[0] & 0o4000]
    assert setuid, "minbase should contain setuid binaries (su, mount, passwd...)"
    assert stats["/"].mode == expected["/"][0]
