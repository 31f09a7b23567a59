"""Boot the imported Debian kernel + generated initrd under QEMU TCG into a tiny rootfs
that has no init of its own, with /banger/ written by debugfs, and read the console."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from banger.disks import debugfs
from banger.errors import NotFound
from banger.guest import GuestSettings, generate_host_keypair, kernel_cmdline, render_guest_files
from tests.helpers.kernel_artifacts import debian_kernel

pytestmark = pytest.mark.integration

BOOT_TIMEOUT = 150  # seconds; TCG on a busy 2-core host
DONE_MARKER = "banger-init: no sshd either; idling"


def host_tsc_khz() -> int:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return int(float(line.split(":")[1]) * 1000)
    raise RuntimeError("no cpu MHz in /proc/cpuinfo")


def make_ext4(path: Path, tree: Path, size: str) -> None:
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", tree, path, size],
        check=True,
        capture_output=True,
    )


def build_hostile_rootfs(tmp_path: Path) -> Path:
    """A rootfs without any init or shell, holding state the hook must cope with."""
    tree = tmp_path / "rootfs"
    for directory in ("etc/ssh", "proc", "sys", "dev", "run", "root", "tmp"):
        (tree / directory).mkdir(parents=True)
    (tree / "etc/resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    (tree / "etc/ssh/ssh_host_rsa_key").write_text("stale private key\n")
    (tree / "etc/ssh/ssh_host_rsa_key.pub").write_text("ssh-rsa AAAA stale\n")
    (tree / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\told-name\n")
    image = tmp_path / "root.ext4"
    make_ext4(image, tree, "32M")
    return image


@pytest.fixture
def settings(tmp_path: Path) -> GuestSettings:
    private, public = generate_host_keypair(tmp_path / "keys")
    return GuestSettings(
        hostname="banger-test-vm",
        mac="02:fc:00:00:00:05",
        ip="10.77.0.5/24",
        gateway="10.77.0.1",
        dns=["10.77.0.1"],
        authorized_keys=[public.replace("banger", "tester")],
        host_key_private=private,
        host_key_public=public,
        work_device="/dev/vdb",
        work_mount="/srv/work",
    )


@pytest.fixture
def qemu_console(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """Yields (console path, started QEMU processes); always kills QEMU at teardown."""
    console = tmp_path / "console.log"
    processes: list[subprocess.Popen[bytes]] = []
    yield console, processes
    for process in processes:
        process.kill()
        process.wait(timeout=30)


def boot(
    kernel: Path,
    root: Path,
    work: Path,
    console: Path,
    processes: list[subprocess.Popen[bytes]],
    *,
    cmdline_root: str = "/dev/vda",
    extra: tuple[str, ...] = (),
) -> tuple[str, int | None]:
    """Boot until the hook idles, the initrd gives up, or QEMU exits: (console, exit code)."""
    argv = [
        "qemu-system-x86_64",
        *("-accel", "tcg", "-machine", "microvm", "-cpu", "max", "-m", "256", "-smp", "1"),
        *("-nodefaults", "-no-user-config", "-nographic", "-no-reboot"),
        *("-serial", f"file:{console}"),
        *("-kernel", str(kernel / "vmlinux"), "-initrd", str(kernel / "initrd.img")),
        *("-drive", f"id=d0,file={root},format=raw,if=none"),
        *("-device", "virtio-blk-device,drive=d0"),
        *("-drive", f"id=d1,file={work},format=raw,if=none"),
        *("-device", "virtio-blk-device,drive=d1"),
        # A hub with no other port: the NIC exists but its frames go nowhere.
        *("-netdev", "hubport,id=n0,hubid=0"),
        *("-device", "virtio-net-device,netdev=n0,mac=02:fc:00:00:00:05"),
        *(
            "-append",
            kernel_cmdline(root=cmdline_root, extra=[f"tsc_early_khz={host_tsc_khz()}", *extra]),
        ),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    processes.append(process)
    deadline = time.monotonic() + BOOT_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace") if console.exists() else ""
        if DONE_MARKER in text or process.poll() is not None:
            break
        time.sleep(0.5)
    exit_code = process.poll()
    process.kill()
    process.wait(timeout=30)
    text = console.read_text(errors="replace") if console.exists() else ""
    return text, exit_code


def test_boot_applies_settings_without_image_init(
    tmp_path: Path, settings: GuestSettings, qemu_console
) -> None:
    console, processes = qemu_console
    kernel = debian_kernel()
    root = build_hostile_rootfs(tmp_path)
    (tmp_path / "work").mkdir()
    (tmp_path / "work/marker").write_text("work disk\n")
    work = tmp_path / "work.ext4"
    make_ext4(work, tmp_path / "work", "16M")
    debugfs.write_files(root, render_guest_files(settings, Path("/bin/busybox")))

    started = time.monotonic()
    text, _ = boot(kernel, root, work, console, processes)
    print(f"boot took {time.monotonic() - started:.1f}s")
    lines = [line.strip() for line in text.splitlines() if "banger-" in line]
    print("\n".join(lines))
    assert DONE_MARKER in text, text[-3000:]
    assert "banger-initrd: switching to /banger/init" in lines
    assert "banger-init: started" in lines
    assert "banger-init: hostname banger-test-vm" in lines
    assert "banger-init: address eth0 10.77.0.5/24" in lines
    assert "banger-init: route default via 10.77.0.1 dev eth0" in lines
    assert "banger-init: work disk /dev/vdb on /srv/work" in lines
    assert "banger-init: no init found in the image" in lines
    assert not [line for line in lines if "warning" in line]

    # What the hook wrote, read back from the disk after QEMU is gone.
    assert debugfs.read_file(root, "/etc/hostname") == b"banger-test-vm\n"
    hosts = debugfs.read_file(root, "/etc/hosts").decode()
    assert "127.0.1.1\tbanger-test-vm" in hosts and "old-name" not in hosts
    assert debugfs.read_file(root, "/etc/resolv.conf") == b"nameserver 10.77.0.1\n"
    assert debugfs.stat(root, "/etc/resolv.conf").type == "regular"
    with pytest.raises(NotFound):
        debugfs.stat(root, "/etc/ssh/ssh_host_rsa_key")
    key = debugfs.stat(root, "/etc/ssh/ssh_host_ed25519_key")
    assert (key.mode, key.uid) == (0o600, 0)
    assert debugfs.stat(root, "/etc/ssh/ssh_host_ed25519_key.pub").mode == 0o644
    assert debugfs.read_file(root, "/etc/ssh/ssh_host_ed25519_key").decode() == (
        settings.host_key_private
    )
    assert debugfs.stat(root, "/root/.ssh").mode == 0o700
    authorized = debugfs.stat(root, "/root/.ssh/authorized_keys")
    assert authorized.mode == 0o600
    assert debugfs.read_file(root, "/root/.ssh/authorized_keys").decode().endswith("tester\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [("hostname", "x$(poweroff)"), ("work_mount", "/w'; poweroff; '"), ("mac", "02:fc\n")],
)
def test_hostile_settings_never_reach_the_disk(
    tmp_path: Path, settings: GuestSettings, field: str, value: str
) -> None:
    root = build_hostile_rootfs(tmp_path)
    data = settings.model_dump()
    data[field] = value
    with pytest.raises(ValidationError):
        debugfs.write_files(root, render_guest_files(GuestSettings(**data), Path("/bin/busybox")))
    with pytest.raises(NotFound):
        debugfs.stat(root, "/banger")


def test_missing_root_disk_powers_off_with_a_message(tmp_path: Path, qemu_console) -> None:
    console, processes = qemu_console
    root = build_hostile_rootfs(tmp_path)
    spare = tmp_path / "spare.img"
    spare.write_bytes(b"\0" * (1 << 20))
    started = time.monotonic()
    text, exit_code = boot(
        debian_kernel(),
        root,
        spare,
        console,
        processes,
        cmdline_root="/dev/vdz",
        extra=("banger.rootwait=3",),
    )
    lines = [line.strip() for line in text.splitlines() if "banger-" in line]
    print(f"gave up after {time.monotonic() - started:.1f}s", *lines, sep="\n")
    assert "banger-initrd: FATAL: root device /dev/vdz did not appear within 3s" in lines
    assert "banger-initrd: powering off" in lines
    # QEMU exited by itself: the guest powered off instead of hanging or panicking.
    assert exit_code == 0
    assert "Kernel panic" not in text
