"""Turn a freshly bootstrapped Debian tree into a microVM image banger can boot.

Each step edits files in the (root-owned) tree directly, so no chroot or running systemd
is needed and every step is idempotent: running the whole list twice converges. Per-VM
identity (hostname, addresses, DNS, SSH host keys, machine-id) is deliberately *removed*
here, because banger's guest hook writes it into each VM's own disk before boot.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

# First value wins in sshd_config, so these lines go at the very top, before any Include.
SSHD_SETTINGS = {
    "PermitRootLogin": "prohibit-password",
    "PasswordAuthentication": "no",
    "KbdInteractiveAuthentication": "no",
    "UseDNS": "no",
}
_SSHD_MARKER = "# banger: image policy (first value wins in sshd_config)"

# Units that wait for hardware or network, or wake up to do housekeeping a short-lived
# microVM does not want (apt downloads, e2scrub on a disk banger checks on the host).
MASKED_UNITS = (
    "systemd-networkd-wait-online.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "apt-daily.service",
    "apt-daily-upgrade.service",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    # microVMs have a serial console, not VGA text consoles (measured: getty-static took
    # 3.7 s of a 17 s TCG userspace boot starting gettys on tty2-6 for nobody).
    "getty@tty1.service",
    "getty-static.service",
)

# A fallback for images booted without banger's hook: sshd refuses to start without host
# keys, so create them on first boot only if none were injected.
HOSTKEY_UNIT_NAME = "banger-ssh-hostkeys.service"
HOSTKEY_UNIT = """\
[Unit]
Description=Generate SSH host keys if none were provided
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

FSTAB = """\
# The root filesystem is mounted read-write by the kernel (root=... rw) and banger's
# guest hook mounts the work disk, so nothing needs to be listed here.
"""

HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
"""


def lock_root_password(root: Path) -> None:
    """Set root's password field to '*' so no password can ever log in (keys only)."""
    shadow = root / "etc/shadow"
    lines = shadow.read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 1:
            fields[1] = "*"
            lines[i] = ":".join(fields)
    shadow.write_text("\n".join(lines) + "\n")


def configure_sshd(root: Path) -> None:
    """Key-only root login, no passwords, no reverse DNS on connect."""
    config = root / "etc/ssh/sshd_config"
    kept = []
    for line in config.read_text().splitlines():
        key = line.strip().split(maxsplit=1)[0] if line.strip() else ""
        if key in SSHD_SETTINGS or line == _SSHD_MARKER:
            continue  # an earlier value (or our previous run) would shadow ours
        kept.append(line)
    ours = [_SSHD_MARKER] + [f"{k} {v}" for k, v in SSHD_SETTINGS.items()]
    config.write_text("\n".join(ours + kept) + "\n")


def remove_host_identity(root: Path) -> None:
    """Drop what must differ per VM: SSH host keys, machine-id, host's name and DNS."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # An empty machine-id makes systemd treat the first boot as first boot and generate one.
    (root / "etc/machine-id").write_text("")
    with contextlib.suppress(FileNotFoundError):
        (root / "var/lib/dbus/machine-id").unlink()
    # mmdebstrap copies the build host's hostname and resolv.conf; they mean nothing here.
    (root / "etc/hostname").write_text("localhost\n")
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("")
    (root / "etc/hosts").write_text(HOSTS)
    (root / "etc/fstab").write_text(FSTAB)


def _unit_exists(root: Path, unit: str) -> bool:
    return any((root / d / unit).exists() for d in ("lib/systemd/system", "usr/lib/systemd/system"))


def mask_units(root: Path) -> list[str]:
    """Mask slow or pointless units (`systemctl --root mask`); returns those masked."""
    system = root / "etc/systemd/system"
    masked = []
    for unit in MASKED_UNITS:
        for wants in system.glob(f"*.wants/{unit}"):
            wants.unlink()
        if not _unit_exists(root, unit):
            continue
        link = system / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
        masked.append(unit)
    return masked


def install_hostkey_fallback(root: Path) -> None:
    """Write and enable the first-boot host key generator (`systemctl --root enable`)."""
    system = root / "etc/systemd/system"
    (system / HOSTKEY_UNIT_NAME).write_text(HOSTKEY_UNIT)
    wants = system / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    link = wants / HOSTKEY_UNIT_NAME
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{HOSTKEY_UNIT_NAME}")


def remove_caches(root: Path) -> None:
    """Delete package lists, caches and build logs: they only make the image bigger."""
    for pattern in (
        "var/lib/apt/lists/*_*",  # keeps lists/partial and the lock apt expects
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/debconf/*-old",
        "var/log/apt/*",
        "var/log/dpkg.log",
        "var/log/alternatives.log",
        "tmp/*",
        "var/tmp/*",
    ):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


CUSTOMIZE_STEPS: list[tuple[str, Callable[[Path], object]]] = [
    ("lock root password", lock_root_password),
    ("configure sshd", configure_sshd),
    ("remove host identity", remove_host_identity),
    ("mask slow units", mask_units),
    ("install host key fallback", install_hostkey_fallback),
    ("remove caches", remove_caches),
]


def customize_rootfs(root: Path, log: Callable[[str], None]) -> None:
    """Apply every customization step to the tree at `root`, logging each by name."""
    for name, step in CUSTOMIZE_STEPS:
        log(f"customize: {name}")
        step(root)
