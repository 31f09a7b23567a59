"""One sshd rule: for the same image layer, `image pull` (has_sshd, from the replayed tree)
and `image build --via ssh` (base_has_sshd, from the built ext4 through debugfs) agree.
A dropbear-only image counts for neither: banger's guest contract pins an OpenSSH host key
at OpenSSH's path, which dropbear does not read (see banger.guest.sshd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from banger.daemon import build_ssh
from banger.errors import InvalidArgument
from banger.oci.ext4 import build_ext4, plan_size
from banger.oci.pull import _has_sshd
from banger.oci.tree import ImageTree
from tests.unit.oci.tarbuild import Entry, directory, file, symlink
from tests.unit.oci.test_replay import replay

IMAGES: dict[str, tuple[list[Entry], bool]] = {
    "openssh": ([file("usr/sbin/sshd", b"\x7fELF", mode=0o755)], True),
    "openssh-usr-bin": ([file("usr/bin/sshd", b"\x7fELF", mode=0o755)], True),
    "openssh-sbin": ([file("sbin/sshd", b"\x7fELF", mode=0o755)], True),
    "openssh-symlink": (
        [file("usr/lib/openssh/sshd", b"\x7fELF"), symlink("usr/sbin/sshd", "../lib/openssh/sshd")],
        True,
    ),
    "dropbear": ([file("usr/bin/dropbear", b"\x7fELF", mode=0o755)], False),
    "sshd-is-a-directory": ([directory("usr/sbin/sshd")], False),
    "none": ([file("etc/hostname", b"x\n")], False),
}


def _pull_and_build(tmp_path: Path, entries: list[Entry]) -> tuple[ImageTree, Path]:
    """Replay one layer and build its ext4 exactly as `image pull` does."""
    tree = replay(tmp_path, [file("etc/os-release", b"ID=test\n"), *entries])
    size, inodes = plan_size(tree, 1 << 20, None)
    (tmp_path / "stage").mkdir()
    (tmp_path / "scratch").mkdir()
    out = tmp_path / "root.ext4"
    build_ext4(
        tree,
        staging=tmp_path / "stage",
        scratch=tmp_path / "scratch",
        out_tmp=out,
        size=size,
        inode_count=inodes,
    )
    return tree, out


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_pull_and_build_agree_on_the_ssh_server(tmp_path: Path, name: str) -> None:
    entries, expected = IMAGES[name]
    tree, rootfs = _pull_and_build(tmp_path, entries)
    assert _has_sshd(tree) is expected
    assert build_ssh.base_has_sshd(rootfs) is expected
    if expected:
        assert build_ssh.choose_via("ssh", rootfs, name) == "ssh"
    else:
        with pytest.raises(InvalidArgument, match="has no sshd"):
            build_ssh.choose_via("ssh", rootfs, name)
