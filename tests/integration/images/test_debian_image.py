"""The real Debian default image: bootstrapped by mmdebstrap from the host's mirror.

The image is built once per bootstrap-code stamp (tests.helpers.rootfs_artifacts) and
inspected without mounting it, through debugfs. Tests that modify it work on a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from banger import proc
from banger.disks.clone import copy_sparse
from banger.disks.ext4 import FsckResult, ext4_info, fsck, grow, is_ext4, shrink_to_content
from banger.errors import Cancelled, CommandFailed
from banger.images.bootset import validate_rootfs
from banger.images.bootstrap import bootstrap_debian, remove_tree
from banger.images.customize import SSHD_SETTINGS
from banger.ops.reporter import NullReporter
from tests.helpers.rootfs_artifacts import TEST_IMAGE_FREE_BYTES, debian_rootfs_ext4

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def image() -> Path:
    return debian_rootfs_ext4()


def _debugfs(image: Path, request: str) -> str:
    return proc.run(["debugfs", "-R", request, image]).stdout


def test_image_is_a_clean_ext4(image: Path) -> None:
    assert is_ext4(image)
    validate_rootfs(image)
    assert fsck(image, fix=False) is FsckResult.CLEAN


def test_setuid_and_root_ownership_are_kept(image: Path) -> None:
    stat = _debugfs(image, "stat /usr/bin/passwd")
    assert "Mode:  04755" in stat
    assert "User:     0   Group:     0" in stat
    # A file owned by a non-root group, to show owners are not all flattened to root.
    shadow = _debugfs(image, "stat /etc/shadow")
    assert "Mode:  0640" in shadow
    assert "Group:    42" in shadow  # Debian's fixed gid for "shadow"


def test_sshd_policy_wins(image: Path) -> None:
    config = _debugfs(image, "cat /etc/ssh/sshd_config")
    first: dict[str, str] = {}
    for line in config.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            first.setdefault(words[0], " ".join(words[1:]))
    for key, value in SSHD_SETTINGS.items():
        assert first[key] == value
    # Every setting comes before the Include, so no drop-in can override it.
    keys = list(first)
    assert keys.index("Include") > max(keys.index(k) for k in SSHD_SETTINGS)


def test_no_per_vm_identity_is_baked_in(image: Path) -> None:
    listing = _debugfs(image, "ls -l /etc/ssh")
    assert "ssh_host_" not in listing
    assert "sshd_config" in listing
    assert _debugfs(image, "cat /etc/machine-id") == ""
    shadow = _debugfs(image, "cat /etc/shadow")
    root_entry = next(line for line in shadow.splitlines() if line.startswith("root:"))
    assert root_entry.startswith("root:*:")
    assert "nameserver" not in _debugfs(image, "cat /etc/resolv.conf")


def test_slow_units_are_masked_and_systemd_is_init(image: Path) -> None:
    for unit in ("apt-daily.timer", "e2scrub_all.timer", "systemd-networkd-wait-online.service"):
        stat = _debugfs(image, f"stat /etc/systemd/system/{unit}")
        assert 'Fast link dest: "/dev/null"' in stat
    assert "systemd" in _debugfs(image, "stat /sbin/init")
    assert "Type: regular" in _debugfs(image, "stat /usr/sbin/sshd")
    assert "Type: regular" in _debugfs(image, "stat /usr/bin/udevadm")
    lists = _debugfs(image, "ls /var/lib/apt/lists")
    assert "InRelease" not in lists and "Packages" not in lists


def test_size_is_content_aware(image: Path) -> None:
    info = ext4_info(image)
    used = info.size_bytes - info.free_bytes
    print(
        f"\nDebian image: {info.size_bytes / MIB:.1f} MiB total, {used / MIB:.1f} MiB used, "
        f"{info.free_bytes / MIB:.1f} MiB free (asked {TEST_IMAGE_FREE_BYTES / MIB:.0f}), "
        f"{info.inode_count} inodes ({info.free_inodes} free); "
        f"file occupies {image.stat().st_blocks * 512 / MIB:.1f} MiB on the host"
    )
    assert info.label == "rootfs"
    assert TEST_IMAGE_FREE_BYTES <= info.free_bytes <= TEST_IMAGE_FREE_BYTES + 8 * MIB
    # minbase + systemd + sshd without docs is ~220 MiB; a loose guess would be far above.
    assert 120 * MIB < used < 320 * MIB


def test_grow_and_shrink_round_trip(image: Path, tmp_path: Path) -> None:
    work = tmp_path / "root.ext4"
    copy_sparse(image, work)
    os_release = _debugfs(work, "cat /etc/os-release")
    original = ext4_info(work)
    grow(work, original.size_bytes + 512 * MIB)
    grown = ext4_info(work)
    assert grown.size_bytes == original.size_bytes + 512 * MIB
    assert fsck(work, fix=False) is FsckResult.CLEAN
    shrunk = shrink_to_content(work, free_bytes=32 * MIB)
    assert 32 * MIB <= shrunk.free_bytes <= 34 * MIB
    assert work.stat().st_size == shrunk.size_bytes < original.size_bytes
    assert fsck(work, fix=False) is FsckResult.CLEAN
    assert _debugfs(work, "cat /etc/os-release") == os_release
    assert "Mode:  04755" in _debugfs(work, "stat /usr/bin/passwd")


class RecordingReporter(NullReporter):
    pass


class CancelInStage(NullReporter):
    """Cancels at the first cancellation check made during the named stage."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.cancel_in = stage

    def check_cancelled(self) -> None:
        if self.stages and self.stages[-1] == self.cancel_in:
            raise Cancelled("operation was cancelled", hint="start it again")


def test_cancelled_bootstrap_removes_the_tree(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    workdir = tmp_path / "work"
    reporter = CancelInStage("customize")
    with pytest.raises(Cancelled):
        bootstrap_debian(out_dir / "root.ext4", free_bytes=0, reporter=reporter, workdir=workdir)
    assert reporter.stages == ["debootstrap", "customize"]
    assert any("customize: configure sshd" in line for line in reporter.lines)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
    assert list(workdir.iterdir()) == []  # the full rootfs tree was removed


def test_failed_bootstrap_leaves_nothing(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    workdir = tmp_path / "work"
    reporter = RecordingReporter()
    with pytest.raises(CommandFailed, match="mmdebstrap"):
        bootstrap_debian(
            out_dir / "root.ext4",
            extra_packages=["banger-no-such-package"],
            free_bytes=0,
            reporter=reporter,
            workdir=workdir,
        )
    assert reporter.stages == ["debootstrap"]
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
    assert list(workdir.iterdir()) == []
    shutil.rmtree(workdir)


def test_remove_tree_unmounts_before_deleting(tmp_path: Path) -> None:
    # What a killed mmdebstrap leaves: filesystems mounted inside the chroot.
    scratch = tmp_path / "bootstrap-x"
    inner = scratch / "rootfs" / "proc"
    inner.mkdir(parents=True)
    proc.run(["mount", "-t", "tmpfs", "-o", "size=1m", "banger-test", inner])
    try:
        (inner / "host-file").write_text("must not matter")
        nested = inner / "nested"
        nested.mkdir()
        proc.run(["mount", "-t", "tmpfs", "-o", "size=1m", "banger-test", nested])
        remove_tree(scratch)
        assert not scratch.exists()
        assert str(scratch) not in Path("/proc/self/mounts").read_text()
    finally:
        for point in (inner / "nested", inner):
            proc.run(["umount", point], check=False)
