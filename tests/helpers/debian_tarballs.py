"""Debian root filesystems as plain tarballs (what a `docker build` layer looks like).

Built once with mmdebstrap from the reachable Debian mirror and cached under
BANGER_TEST_CACHE; a lock keeps parallel test processes from building the same one twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache"))


def debian_tarball(name: str, include: list[str] | None = None) -> Path:
    """bookworm minbase (plus `include` packages) as CACHE/<name>.tar."""
    target = CACHE / f"{name}.tar"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        if shutil.which("mmdebstrap") is None:
            pytest.fail("mmdebstrap is missing: scripts/test installs it")
        partial = CACHE / f"{name}.{os.getpid()}.tmp.tar"
        argv = ["mmdebstrap", "--quiet", "--variant=minbase"]
        if include:
            argv.append("--include=" + ",".join(include))
        try:
            subprocess.run([*argv, "bookworm", str(partial)], check=True, timeout=900)
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def minbase_tarball() -> Path:
    """About 8,700 entries, setuid binaries, owners like 0:42; no sshd."""
    return debian_tarball("minbase-bookworm")


def ssh_tarball() -> Path:
    """A bootable Debian with systemd, udev and openssh-server, but none of banger's tuning."""
    return debian_tarball("ssh-bookworm", ["systemd-sysv", "udev", "openssh-server", "iproute2"])
