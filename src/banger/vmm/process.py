"""Process identity from /proc, detached spawning, and signal escalation.

A pid alone identifies nothing: after a VMM dies its pid may be reused by any process.
A VMM is "ours" only if the pid is alive (not a zombie), its start time (field 22 of
/proc/<pid>/stat) equals the one recorded at spawn, its exe equals the recorded exe and
its command line mentions the VMM's socket. Signals go through a pidfd opened *before*
the identity check, so the check and the kill refer to the same process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from banger.errors import FailedPrecondition, Unavailable
from banger.proc import which

_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int  # clock ticks since host boot
    exe: str
    cmdline: tuple[str, ...]


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of pid, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) is parenthesised and may contain spaces or ')': split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])  # fields 3 (state) and 22 (starttime)


def read_start_time(pid: int) -> int | None:
    stat = _read_stat(pid)
    return None if stat is None else stat[1]


def read_exe(pid: int) -> str | None:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # An upgraded package replaces the binary under a running VMM; it is still the same VMM.
    return exe.removesuffix(" (deleted)")


def read_cmdline(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live, non-zombie pid, or None."""
    stat = _read_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    exe = read_exe(pid)
    if exe is None:
        return None
    return ProcessIdentity(pid, stat[1], exe, read_cmdline(pid))


def reap_if_child(pid: int) -> None:
    """Collect pid's exit status if we happen to be its parent, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_same_process(pid: int, start_time: int, exe: str | None, cmdline_marker: str) -> bool:
    """True if pid is alive and is the very process recorded (start time, exe, cmdline).

    exe=None checks liveness and start time only: for the moments right after spawn, when a
    launcher (a wrapper script, pyenv shim) may still be exec'ing into the real VMM. In the
    middle of an execve /proc briefly shows no exe and an empty cmdline, so neither can be
    trusted then; the start time does not change across exec, so it alone proves the pid
    was not reused meanwhile.
    """
    reap_if_child(pid)
    if exe is None:
        stat = _read_stat(pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start_time
    ident = identify(pid)
    if ident is None:
        return False
    return (
        ident.start_time == start_time
        and ident.exe == exe
        and any(cmdline_marker in arg for arg in ident.cmdline)
    )


def signal_process(
    pid: int, start_time: int, exe: str | None, cmdline_marker: str, signum: signal.Signals
) -> bool:
    """Send signum if pid is still the recorded process; False if it is already gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if not is_same_process(pid, start_time, exe, cmdline_marker):
            return False
        try:
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            return False
        return True
    finally:
        os.close(pidfd)


def wait_gone(
    pid: int, start_time: int, exe: str | None, cmdline_marker: str, timeout: float
) -> bool:
    """Wait up to timeout seconds for the recorded process to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        if not is_same_process(pid, start_time, exe, cmdline_marker):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)


def terminate(
    pid: int, start_time: int, exe: str | None, cmdline_marker: str, *, term_timeout: float
) -> None:
    """SIGTERM, then SIGKILL after term_timeout; raise Unavailable if even that fails."""
    for signum, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, 5.0)):
        if not signal_process(pid, start_time, exe, cmdline_marker, signum):
            return
        if wait_gone(pid, start_time, exe, cmdline_marker, wait):
            return
    raise Unavailable(
        f"VMM process {pid} survived SIGKILL",
        hint=f"the process may be stuck in the kernel (D state); look at /proc/{pid}/stack",
    )


def kill_now(pid: int, start_time: int, exe: str | None, cmdline_marker: str) -> None:
    """SIGKILL the recorded process (if it still is that process) and wait until it is gone."""
    if signal_process(pid, start_time, exe, cmdline_marker, signal.SIGKILL) and not wait_gone(
        pid, start_time, exe, cmdline_marker, 5.0
    ):
        raise Unavailable(
            f"VMM process {pid} survived SIGKILL",
            hint=f"the process may be stuck in the kernel (D state); look at /proc/{pid}/stack",
        )


def spawn_detached(argv: Sequence[str], *, log_path: Path, cwd: Path) -> ProcessIdentity:
    """Start argv in its own session with stdio on files, so it outlives the daemon.

    This is the one place banger starts a long-lived process instead of running a tool to
    completion, which is why it does not go through banger.proc.run. The child is ours
    until we exit; `reap_if_child` (called by every identity check) collects it.
    """
    args = list(argv)
    if "/" not in args[0]:
        args[0] = which(args[0])
    with open(log_path, "ab") as log_file:
        try:
            child = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,  # a daemon restart (SIGHUP/SIGTERM to its group) spares us
                close_fds=True,
            )
        except OSError as exc:
            raise FailedPrecondition(
                f"cannot execute {args[0]}: {exc.strerror}",
                hint="check the VMM binary path and that it is executable",
            ) from exc
    # Popen returns only after exec succeeded; /proc shows the new program (or its launcher).
    ident = identify(child.pid)
    if ident is None:
        child.wait()
        raise Unavailable(
            f"{Path(args[0]).name} exited immediately with code {child.returncode}",
            hint=f"read its log: {log_path}",
        )
    return ident
