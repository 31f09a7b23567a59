"""Find the process that answers on bangerd's socket, make sure it is bangerd, pin it.

The socket is the truth: whoever answers on it is "the daemon", however it was started.
SO_PEERCRED names the pid that listens there; a pidfd pins that very process, so a pid
recycled in the meantime is never signalled; its /proc cmdline and its own `/v1/version`
answer (which reports its pid) confirm it really is bangerd.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from banger.client.http import Client
from banger.errors import BangerError, FailedPrecondition, PermissionDenied, Unavailable

_UCRED = struct.Struct("3i")
DAEMON_MODULE = "banger.daemon.main"
# Python options that consume the next argument (so it is not the script).
_PY_OPTS_WITH_VALUE = {"-W", "-X", "--check-hash-based-pycs"}


class _Gone(Exception):
    """The process exited while we looked at it."""


def is_bangerd_argv(argv: Sequence[str]) -> bool:
    """Whether a command line runs bangerd: the `bangerd` script (directly or through its
    python interpreter) or `python -m banger.daemon.main`."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "bangerd":
        return True
    if not os.path.basename(argv[0]).startswith("python"):
        return False
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "-m":
            return next(rest, "") == DAEMON_MODULE
        if arg.startswith("-m"):
            return arg[2:] == DAEMON_MODULE
        if arg in ("-c", "-"):
            return False
        if arg in _PY_OPTS_WITH_VALUE:
            next(rest, None)
        elif not arg.startswith("-"):
            return os.path.basename(arg) == "bangerd"
    return False


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of a live process; None when /proc hides it from us (hidepid)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except PermissionError:
        return None
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise _Gone from exc
    if not raw:
        raise _Gone  # a zombie: it has exited already
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def process_is_bangerd(pid: int) -> bool:
    """Whether pid is a live bangerd process (for pidfile checks: no socket involved)."""
    try:
        argv = read_cmdline(pid)
    except _Gone:
        return False
    return argv is not None and is_bangerd_argv(argv)


def socket_peer_pid(path: Path, *, timeout: float = 5.0) -> int | None:
    """The pid listening on the UNIX socket at path, or None when nothing answers there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(path))
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        return None
    except PermissionError as exc:
        raise PermissionDenied(
            f"no permission to use the bangerd socket {path}",
            hint="add your user to group 'banger' (sudo usermod -aG banger $USER), "
            "then log in again",
        ) from exc
    except OSError as exc:
        raise Unavailable(
            f"cannot connect to {path}: {exc.strerror or exc}",
            hint="check that --socket (or socket_path in your config) is bangerd's socket",
        ) from exc
    finally:
        sock.close()
    pid, _uid, _gid = _UCRED.unpack(raw)
    return pid


def wait_unanswered(path: Path, timeout: float) -> int | None:
    """Wait until nothing answers on path; the pid that still does after timeout, else None."""
    deadline = time.monotonic() + timeout
    while True:
        pid = socket_peer_pid(path)
        if pid is None or time.monotonic() >= deadline:
            return pid
        time.sleep(0.1)


@dataclass
class DaemonProcess:
    """A verified bangerd, pinned by a pidfd: signals can only ever reach this process."""

    pid: int
    pidfd: int
    socket_path: Path

    def exited(self, timeout: float = 0.0) -> bool:
        """Wait up to timeout seconds for the process to exit; whether it has."""
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout * 1000))))

    def send(self, sig: signal.Signals) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            pass  # it exited on its own: nothing to do
        except PermissionError as exc:
            raise PermissionDenied(
                f"no permission to signal bangerd (pid {self.pid})", hint="run it with sudo"
            ) from exc

    def close(self) -> None:
        os.close(self.pidfd)


def _confirm(daemon: DaemonProcess, timeout: float) -> None:
    """Raise unless the pinned process is bangerd and is the one answering the API."""
    pid, path = daemon.pid, daemon.socket_path
    argv = read_cmdline(pid)
    if argv is not None and not is_bangerd_argv(argv):
        command = shlex.join(argv)
        command = command if len(command) <= 80 else command[:77] + "..."
        raise FailedPrecondition(
            f"{path} is served by pid {pid} ({command}), which is not bangerd; left alone",
            hint="stop that process yourself, or point --socket at bangerd's socket",
        )
    try:
        with Client(path, timeout=timeout) as client:
            info = client.get("/version")
    except PermissionDenied:
        raise
    except BangerError as exc:
        if daemon.exited():
            raise _Gone from exc
        raise Unavailable(
            f"pid {pid} holds {path} but does not answer as bangerd: {exc.message}",
            hint=f"if it is a stuck bangerd, kill it: sudo kill {pid}",
        ) from exc
    reported = info.get("pid") if isinstance(info, dict) else None
    if reported is None and argv is None:
        raise FailedPrecondition(
            f"cannot confirm that pid {pid}, serving {path}, is bangerd",
            hint="run it as root (or upgrade bangerd: newer ones report their pid)",
        )
    if reported is not None and reported != pid:
        raise FailedPrecondition(
            f"the daemon on {path} says it is pid {reported}, but the socket is held by pid {pid}",
            hint="it runs in another pid namespace: stop it from there",
        )
    # Alive now, so the pid named by the socket and by the API was this process all along.
    if daemon.exited():
        raise _Gone


def _find(path: Path, timeout: float) -> DaemonProcess | None:
    for _ in range(3):
        pid = socket_peer_pid(path)
        if pid is None:
            return None
        if pid <= 0:
            raise FailedPrecondition(
                f"cannot tell which process serves {path}",
                hint="it runs in another pid namespace: stop it from there",
            )
        try:
            daemon = DaemonProcess(pid, os.pidfd_open(pid), path)
        except ProcessLookupError:
            continue  # it exited just now: look at the socket again
        try:
            _confirm(daemon, timeout)
        except _Gone:
            daemon.close()
            continue
        except BaseException:
            daemon.close()
            raise
        return daemon
    raise Unavailable(f"the process serving {path} keeps changing", hint="retry in a moment")


@contextmanager
def locate_daemon(path: Path, *, timeout: float = 10.0) -> Iterator[DaemonProcess | None]:
    """The verified bangerd answering on path (pidfd closed on exit), or None if nothing
    answers there. Raises a one-line BangerError when something answers that is not bangerd."""
    daemon = _find(path, timeout)
    try:
        yield daemon
    finally:
        if daemon is not None:
            daemon.close()
