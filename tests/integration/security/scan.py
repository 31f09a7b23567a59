"""What must never exist in the daemon's state after an attack, and the daemon's memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.integration.kernels.attacker import dangerous_entries

MiB = 1 << 20
SHM = Path("/dev/shm")


def world_writable(root: Path) -> list[str]:
    found = []
    for current, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(current) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & stat.S_IWOTH:
                found.append(f"{path} mode {oct(st.st_mode)}")
    return found


def unsafe_entries(root: Path) -> list[str]:
    """setuid/setgid/sticky files, device nodes, FIFOs, sockets and world-writable entries."""
    return dangerous_entries(root) + world_writable(root)


def pull_scratch() -> set[str]:
    """OCI pull scratch directories in /dev/shm (oci/pull.py names them oci-pull-*), at its
    top or inside a daemon's private RAM directory."""
    found = [*SHM.glob("oci-pull-*"), *SHM.glob("banger-*/oci-pull-*")]
    return {str(p.relative_to(SHM)) for p in found}


def reset_peak_rss(pid: int) -> None:
    """Make VmHWM start again from the current RSS (proc(5): clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for pid {pid}")


def peak_rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmRSS")
