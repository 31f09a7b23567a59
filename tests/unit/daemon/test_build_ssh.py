"""Which way steps reach the builder, and the machine-id kept across an ssh build
(real ext4 images made with mke2fs -d, read and written with debugfs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from banger.daemon import build_ssh
from banger.disks import debugfs, ext4
from banger.errors import InvalidArgument
from banger.guest import GuestFile


def _rootfs(tmp_path: Path, *, sshd: bool) -> Path:
    tree = tmp_path / "tree"
    (tree / "usr/sbin").mkdir(parents=True)
    (tree / "etc").mkdir()
    if sshd:
        (tree / "usr/sbin/sshd").write_bytes(b"\x7fELF")
        (tree / "usr/sbin/sshd").chmod(0o755)
    machine_id = tree / "etc/machine-id"
    machine_id.write_text("")
    machine_id.chmod(0o444)
    out = tmp_path / "root.ext4"
    ext4.make_ext4(tree, out)
    return out


def test_auto_picks_ssh_only_when_the_base_has_sshd(tmp_path: Path) -> None:
    with_sshd = _rootfs(tmp_path / "a", sshd=True)
    without = _rootfs(tmp_path / "b", sshd=False)
    assert build_ssh.choose_via("auto", with_sshd, "a") == "ssh"
    assert build_ssh.choose_via("auto", without, "b") == "console"
    assert build_ssh.choose_via("console", with_sshd, "a") == "console"
    assert build_ssh.choose_via("ssh", with_sshd, "a") == "ssh"


def test_ssh_on_a_base_without_sshd_is_refused_up_front(tmp_path: Path) -> None:
    without = _rootfs(tmp_path, sshd=False)
    with pytest.raises(InvalidArgument, match="base image tiny has no sshd") as info:
        build_ssh.choose_via("ssh", without, "tiny")
    assert info.value.hint is not None and "--via console" in info.value.hint


def test_machine_id_filled_in_by_the_builder_is_put_back(tmp_path: Path) -> None:
    root = _rootfs(tmp_path, sshd=True)
    saved = build_ssh.save_machine_id(root)
    assert saved is not None and saved.content == b"" and saved.mode == 0o444
    # What systemd's first boot does inside the builder.
    debugfs.write_files(root, [GuestFile("/etc/machine-id", b"0123456789abcdef\n", 0o444)])
    assert debugfs.read_file(root, "/etc/machine-id") != b""
    build_ssh.restore_machine_id(root, saved)
    assert debugfs.read_file(root, "/etc/machine-id") == b""
    assert debugfs.stat(root, "/etc/machine-id").mode == 0o444


def test_a_base_without_machine_id_is_left_alone(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello").write_text("hi\n")
    root = tmp_path / "root.ext4"
    ext4.make_ext4(tree, root)
    assert build_ssh.save_machine_id(root) is None
    build_ssh.restore_machine_id(root, None)  # nothing to restore, nothing written


def test_remote_commands_quote_what_they_embed() -> None:
    command = build_ssh.runner_command("/dev/vdb")
    assert "'/dev/vdb'" in command and "run.sh" in command
    scrub = build_ssh.scrub_command("ssh-ed25519 AAAA it's-me")
    assert "'ssh-ed25519 AAAA it'\\''s-me'" in scrub


def test_a_sparse_giant_machine_id_is_refused_before_anything_is_dumped(tmp_path: Path) -> None:
    # 2 GiB apparent size in a 64 MiB image: dumping it would fill /tmp and the daemon's RAM.
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    with (tree / "etc/machine-id").open("wb") as sparse:
        sparse.truncate(2 << 30)
    root = tmp_path / "root.ext4"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, root, "64M"], check=True)
    assert debugfs.stat(root, "/etc/machine-id").size == 2 << 30
    started = time.monotonic()
    with pytest.raises(InvalidArgument, match=r"/etc/machine-id in root.ext4 is 2147483648 bytes"):
        build_ssh.save_machine_id(root)
    assert time.monotonic() - started < 10  # refused from the inode, not after a 2 GiB dump


def test_read_file_bounds_what_it_returns(tmp_path: Path) -> None:
    root = _rootfs(tmp_path, sshd=False)
    debugfs.write_files(root, [GuestFile("/etc/machine-id", b"x" * 4097, 0o444)])
    with pytest.raises(InvalidArgument, match="4097 bytes, above the 4096-byte limit"):
        build_ssh.save_machine_id(root)
    debugfs.write_files(root, [GuestFile("/etc/machine-id", b"x" * 4096, 0o444)])
    saved = build_ssh.save_machine_id(root)
    assert saved is not None and saved.content == b"x" * 4096
