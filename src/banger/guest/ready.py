"""Readiness is measured, not slept: a VM is ready when its sshd sends its banner."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from banger.errors import Unavailable


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
    check_cancelled: Callable[[], None] = lambda: None,
    port: int = 22,
) -> float:
    """Poll until sshd answers; fail early if the VM dies. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        check_cancelled()
        if ssh_banner(ip, port) is not None:
            return time.monotonic() - start
        if not alive():
            raise Unavailable(
                f"the VM at {ip} stopped before its sshd answered",
                hint="read its console: banger vm logs NAME",
            )
        time.sleep(0.2)
    raise Unavailable(
        f"sshd at {ip} did not answer within {timeout:.0f} s",
        hint="read the console (banger vm logs NAME); the image may lack sshd",
    )
