"""A tiny QMP client: JSON lines over QEMU's UNIX socket, one command at a time."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

from banger.errors import BangerError, Unavailable


class QmpError(BangerError):
    """QEMU answered a QMP command with an error object."""

    code = "vmm_error"
    status = 500


class QmpClient:
    """Connects, negotiates capabilities, then runs commands; asynchronous events are skipped."""

    def __init__(self, socket_path: Path, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def __enter__(self) -> QmpClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
            self._sock = sock
            self._reader = sock.makefile("rb")
            greeting = self._read_message()
            if "QMP" not in greeting:
                raise Unavailable(
                    f"{self.socket_path} did not greet like QMP",
                    hint="is this socket really QEMU's -qmp socket?",
                )
            self.execute("qmp_capabilities")
        except OSError as exc:
            self.close()
            raise Unavailable(
                f"cannot talk QMP on {self.socket_path}: {exc}",
                hint="the VM's QEMU process may have exited; check `status`",
            ) from exc
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read_message(self) -> dict[str, Any]:
        line = self._reader.readline()
        if not line:
            raise Unavailable(
                f"QEMU closed the QMP socket {self.socket_path}",
                hint="the VM's QEMU process may have exited",
            )
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command and return its "return" value; raise QmpError on an "error"."""
        if self._sock is None:
            raise RuntimeError("QmpClient used outside its context")
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            return self._await_return(command)
        except OSError as exc:
            raise Unavailable(
                f"QMP {command} on {self.socket_path} failed: {exc}",
                hint="the VM's QEMU process may be hung or gone; check `status`",
            ) from exc

    def _await_return(self, command: str) -> Any:
        while True:
            reply = self._read_message()
            if "event" in reply:
                continue  # e.g. POWERDOWN, SHUTDOWN: not the answer to our command
            if "error" in reply:
                error = reply["error"]
                raise QmpError(
                    f"QMP {command} failed: {error.get('desc', error)}",
                    hint="see the VM's QEMU log; the command may not apply in this state",
                )
            return reply.get("return")

    def query_status(self) -> str:
        """QEMU's run state: 'running', 'paused', 'shutdown', ..."""
        return str(self.execute("query-status")["status"])

    def system_powerdown(self) -> None:
        """Press the ACPI power button; the guest decides whether to shut down."""
        self.execute("system_powerdown")

    def quit(self) -> None:
        """Stop QEMU at once; the socket may close before the reply arrives."""
        with contextlib.suppress(Unavailable):
            self.execute("quit")
