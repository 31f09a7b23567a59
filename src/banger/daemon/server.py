"""Bind the API socket (mode 0660, group-owned) and serve the app on it with uvicorn."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from banger import proc
from banger.daemon.peer import group_gid, make_protocol
from banger.errors import FailedPrecondition

log = logging.getLogger("banger.daemon")


def ensure_group(name: str) -> int:
    gid = group_gid(name)
    if gid is None:
        proc.run(["groupadd", "--system", name], hint="create the group by hand: groupadd banger")
        gid = group_gid(name)
    if gid is None:
        raise FailedPrecondition(f"group '{name}' could not be created", hint="create it by hand")
    return gid


def _socket_in_use(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def bind_socket(path: Path, group: str) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if _socket_in_use(path):
            raise FailedPrecondition(
                f"another bangerd is already serving {path}",
                hint="stop it first (banger daemon stop), or use another socket_path",
            )
        path.unlink()
    gid = ensure_group(group) if os.geteuid() == 0 else os.getegid()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o117)  # the socket is born 0660: no window with wider access
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        code = errno.errorcode.get(exc.errno or 0, "error")
        raise FailedPrecondition(f"cannot bind {path}: {code}", hint="check the path") from exc
    finally:
        os.umask(old_umask)
    with contextlib.suppress(PermissionError):
        os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    sock.listen(128)
    return sock


def _exit_cleanly(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: FastAPI, socket_path: Path, group: str, log_level: str) -> None:
    """Serve until SIGTERM/SIGINT, then return through the callers' cleanups.

    uvicorn re-raises the signal that stopped it once it has shut down; with the default
    handlers that kills the process on the spot and no caller's `finally` runs (the
    services' close: monitor threads, the database, the RAM scratch). Our handlers turn
    that re-raise into SystemExit instead.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    sock = bind_socket(socket_path, group)
    config = uvicorn.Config(
        app,
        http=make_protocol(group, os.geteuid()),
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    log.info("bangerd listening on %s", socket_path)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
