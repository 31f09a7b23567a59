"""Readiness is measured, not slept: a VM is ready when its sshd sends its banner.

While waiting, the guest's console is watched (guest.boot_watch): a guest that stalls,
panics or dies fails within seconds of it, with its console's last line, instead of at
the outer timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from banger.guest.boot_watch import ConsoleWatch


def ssh_banner(ip: str, port: int = 22, timeout: float = 2.0) -> str | None:
    """The SSH identification line, or None if nothing answers like an sshd yet."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            data = conn.recv(256)
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line if line.startswith("SSH-") else None


def wait_for_ssh(
    ip: str,
    *,
    timeout: float,
    alive: Callable[[], bool],
    watch: ConsoleWatch,
    check_cancelled: Callable[[], None] = lambda: None,
    port: int = 22,
) -> float:
    """Poll until sshd answers; fail early if the VM dies or its boot stalls.

    Returns the seconds waited. Raises BootFailed (the caller stops the VM).
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        check_cancelled()
        if ssh_banner(ip, port) is not None:
            return time.monotonic() - start
        if not alive():
            check_cancelled()  # a cancel that killed the VM is a cancel, not a failure
            raise watch.exited()
        watch.check()
        time.sleep(0.2)
    raise watch.not_ready(f"sshd at {ip}", timeout)
