"""Boot the Debian default image under QEMU TCG the way banger does, and log in over SSH.

Kernel + generated initrd come from tests.helpers.kernel_artifacts, /banger/ from
banger.guest written with debugfs. The guest's NIC is QEMU user networking with one port
forwarded from 127.0.0.1, so all test traffic stays on loopback and nothing on the host
(bridge, tap, nft) has to be created or cleaned up.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger import proc
from banger.disks import debugfs
from banger.disks.clone import copy_sparse
from banger.guest import GuestSettings, generate_host_keypair, kernel_cmdline, render_guest_files
from tests.helpers.kernel_artifacts import debian_kernel
from tests.helpers.rootfs_artifacts import debian_rootfs_ext4

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 240.0  # seconds: systemd under TCG on a shared 2-core host
SLIRP_GUEST_IP = "10.0.2.15/24"  # QEMU user networking's fixed guest network
SLIRP_GATEWAY = "10.0.2.2"


def _host_tsc_khz() -> int:
    # Without tsc_early_khz about one TCG boot in eight hangs calibrating against the PIT.
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return int(float(line.split(":")[1]) * 1000)
    raise RuntimeError("no 'cpu MHz' in /proc/cpuinfo")


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ssh_banner(port: int) -> bytes:
    """The first bytes sshd sends, or b"" while nothing listens behind the forward yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
            conn.settimeout(3)
            return conn.recv(64)
    except OSError:
        return b""


@pytest.fixture
def qemu(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:  # always, even when the test failed midway
        process.kill()
        process.wait(timeout=30)


def test_debian_image_boots_to_sshd_and_accepts_the_key(
    tmp_path: Path, qemu: list[subprocess.Popen[bytes]]
) -> None:
    kernel = debian_kernel()
    root = tmp_path / "root.ext4"
    copy_sparse(debian_rootfs_ext4(), root)  # never boot the shared cached image
    client_key = tmp_path / "id_ed25519"
    proc.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", "tester", "-f", client_key])
    host_private, host_public = generate_host_keypair(tmp_path / "hostkey")
    settings = GuestSettings(
        hostname="debian-boot-test",
        mac="02:fc:00:00:00:09",
        ip=SLIRP_GUEST_IP,
        gateway=SLIRP_GATEWAY,
        dns=[],
        authorized_keys=[client_key.with_suffix(".pub").read_text().strip()],
        host_key_private=host_private,
        host_key_public=host_public,
    )
    debugfs.write_files(root, render_guest_files(settings, Path("/bin/busybox")))

    port = _free_loopback_port()
    console = tmp_path / "console.log"
    cmdline = kernel_cmdline(extra=[f"tsc_early_khz={_host_tsc_khz()}"])
    argv = [
        "qemu-system-x86_64",
        *("-accel", "tcg", "-machine", "microvm", "-cpu", "max", "-m", "512", "-smp", "1"),
        *("-nodefaults", "-no-user-config", "-nographic", "-no-reboot"),
        *("-serial", f"file:{console}"),
        *("-kernel", str(kernel / "vmlinux"), "-initrd", str(kernel / "initrd.img")),
        *("-drive", f"id=d0,file={root},format=raw,if=none"),
        *("-device", "virtio-blk-device,drive=d0"),
        *("-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
        *("-device", f"virtio-net-device,netdev=n0,mac={settings.mac}"),
        *("-append", cmdline),
    ]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    qemu.append(process)

    banner = b""
    while time.monotonic() - started < BOOT_TIMEOUT and process.poll() is None:
        banner = _ssh_banner(port)
        if banner.startswith(b"SSH-2.0-"):
            break
        time.sleep(1)
    listening_after = time.monotonic() - started
    text = console.read_text(errors="replace") if console.exists() else ""
    assert banner.startswith(b"SSH-2.0-OpenSSH"), (
        f"no sshd after {listening_after:.0f}s:\n" + (text[-4000:])
    )
    print(f"\nsshd answered {listening_after:.1f}s after QEMU started (TCG)")

    # Key login as root works, and the guest presents exactly the host key banger pinned.
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    ssh = proc.run(
        [
            "ssh", "-i", client_key, "-p", str(port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
            "root@127.0.0.1",
            "hostname; systemctl is-system-running --wait; cat /etc/machine-id; "
            "ls /etc/ssh; systemctl is-enabled apt-daily.timer || true",
        ],
        timeout=120,
    )  # fmt: skip
    lines = ssh.stdout.split()
    print(ssh.stdout)
    # For the record (not asserted, TCG timing is noisy): where boot time goes.
    analyze = proc.run(
        [
            "ssh", "-i", client_key, "-p", str(port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes",
            "root@127.0.0.1", "systemd-analyze time; systemd-analyze blame | head -8",
        ],
        check=False,
        timeout=60,
    )  # fmt: skip
    print(analyze.stdout)
    assert lines[0] == "debian-boot-test"
    assert lines[1] in ("running", "degraded"), ssh.stdout
    assert len(lines[2]) == 32  # systemd generated a machine-id on first boot
    assert "ssh_host_rsa_key" not in lines  # no host keys from the build were left
    assert "masked" in lines

    # Passwords are refused outright, even for root.
    password = proc.run(
        [
            "ssh", "-p", str(port), "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "root@127.0.0.1", "true",
        ],
        check=False,
        timeout=60,
    )  # fmt: skip
    assert password.returncode == 255
    assert "Permission denied" in password.stderr

    # The serial getty runs on ttyS0 (systemd's generator, from console=ttyS0).
    deadline = time.monotonic() + 60
    while "login:" not in text and time.monotonic() < deadline:
        time.sleep(1)
        text = console.read_text(errors="replace")
    assert "debian-boot-test login:" in text, text[-2000:]
