"""Image customization on a small fake Debian tree (real files, no chroot)."""

from __future__ import annotations

import os
from pathlib import Path

from banger.images.customize import (
    HOSTKEY_UNIT_NAME,
    SSHD_SETTINGS,
    customize_rootfs,
)

DEBIAN_SSHD_CONFIG = """\
Include /etc/ssh/sshd_config.d/*.conf
#PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
"""


def _fake_tree(root: Path) -> Path:
    for d in [
        "etc/ssh",
        "etc/systemd/system/timers.target.wants",
        "etc/systemd/system/getty.target.wants",
        "etc/systemd/system/multi-user.target.wants",
        "lib/systemd/system",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/log/apt",
        "tmp",
    ]:
        (root / d).mkdir(parents=True)
    (root / "etc/shadow").write_text("root:$y$abc$def:20000:0:99999:7:::\nbin:*:20000::::::\n")
    (root / "etc/ssh/sshd_config").write_text(DEBIAN_SSHD_CONFIG)
    for kind in ("rsa", "ed25519"):
        (root / f"etc/ssh/ssh_host_{kind}_key").write_text("secret")
        (root / f"etc/ssh/ssh_host_{kind}_key.pub").write_text("public")
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "etc/hostname").write_text("build-host\n")
    (root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")
    for unit in ("apt-daily.timer", "e2scrub_all.timer", "ssh.service"):
        (root / "lib/systemd/system" / unit).write_text("[Unit]\n")
    wants = root / "etc/systemd/system/timers.target.wants/apt-daily.timer"
    wants.symlink_to("/lib/systemd/system/apt-daily.timer")
    (root / "etc/systemd/system/getty.target.wants/getty@tty1.service").symlink_to(
        "/lib/systemd/system/getty@.service"
    )
    (root / "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease").write_text("x")
    (root / "var/lib/apt/lists/lock").write_text("")
    (root / "var/cache/apt/pkgcache.bin").write_text("x")
    (root / "var/cache/apt/archives/foo_1.0_amd64.deb").write_text("x")
    (root / "var/log/apt/history.log").write_text("x")
    (root / "tmp/leftover").write_text("x")
    return root


def _snapshot(root: Path) -> dict[str, str]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                state[rel] = path.read_text()
            else:
                state[rel] = "dir"
    return state


def test_customize_applies_the_image_policy(tmp_path: Path) -> None:
    root = _fake_tree(tmp_path / "root")
    logged: list[str] = []
    customize_rootfs(root, logged.append)

    assert (root / "etc/shadow").read_text().splitlines()[0].split(":")[1] == "*"
    assert (root / "etc/shadow").read_text().splitlines()[1] == "bin:*:20000::::::"

    # sshd takes the first value of each keyword: ours must come before anything else.
    first: dict[str, str] = {}
    for line in (root / "etc/ssh/sshd_config").read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            first.setdefault(words[0], " ".join(words[1:]))
    for key, value in SSHD_SETTINGS.items():
        assert first[key] == value
    assert "Subsystem" in first  # the rest of Debian's config is kept

    assert list((root / "etc/ssh").glob("ssh_host_*")) == []
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "etc/hostname").read_text() == "localhost\n"
    assert (root / "etc/resolv.conf").read_text() == ""
    assert "localhost" in (root / "etc/hosts").read_text()

    system = root / "etc/systemd/system"
    assert os.readlink(system / "apt-daily.timer") == "/dev/null"
    assert os.readlink(system / "e2scrub_all.timer") == "/dev/null"
    assert not (system / "timers.target.wants/apt-daily.timer").is_symlink()
    assert not (system / "getty.target.wants/getty@tty1.service").is_symlink()
    assert not (system / "fstrim.timer").is_symlink()  # not installed: nothing to mask
    assert (system / HOSTKEY_UNIT_NAME).is_file()
    assert (system / "multi-user.target.wants" / HOSTKEY_UNIT_NAME).is_symlink()

    assert sorted(p.name for p in (root / "var/lib/apt/lists").iterdir()) == ["lock", "partial"]
    assert not (root / "var/cache/apt/pkgcache.bin").exists()
    assert (root / "var/cache/apt/archives/partial").is_dir()
    assert list((root / "tmp").iterdir()) == []
    assert any("configure sshd" in line for line in logged)


def test_customize_is_idempotent(tmp_path: Path) -> None:
    root = _fake_tree(tmp_path / "root")
    customize_rootfs(root, lambda _line: None)
    once = _snapshot(root)
    customize_rootfs(root, lambda _line: None)
    assert _snapshot(root) == once
