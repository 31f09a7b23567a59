"""Firecracker's REST API over its UNIX socket, with faults converted to banger errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from banger.errors import BangerError, Unavailable

_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes, NUL included


class FirecrackerApiError(BangerError):
    """Firecracker refused a request; the message carries its fault_message."""

    code = "vmm_error"
    status = 500


def _fault_message(response: httpx.Response) -> str:
    try:
        message = response.json().get("fault_message")
    except (ValueError, AttributeError):
        message = None
    text = message or response.text or f"HTTP {response.status_code}"
    return " ".join(str(text).split())  # one line, whatever Firecracker sent


class FirecrackerApi:
    """One client per socket; use as a context manager so the connection is closed."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self._dir_fd: int | None = None
        uds = str(socket_path)
        if len(os.fsencode(uds)) > _SUN_PATH_MAX:
            # A jailed Firecracker's socket lies deep in its chroot, past what sun_path
            # holds: reach it through a descriptor of its directory instead.
            try:
                self._dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
            except OSError as exc:
                raise Unavailable(
                    f"Firecracker API socket {socket_path} is unreachable: {exc.strerror}",
                    hint="the Firecracker process may have exited; check the VM's status",
                ) from exc
            uds = f"/proc/self/fd/{self._dir_fd}/{socket_path.name}"
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=uds),
            base_url="http://localhost",
            timeout=timeout,
        )

    def __enter__(self) -> FirecrackerApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request; return the decoded JSON reply (None for 204)."""
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"Firecracker API socket {self.socket_path} did not answer {method} {path}: {exc}",
                hint="the Firecracker process may have exited; check the VM's status and log",
            ) from exc
        if response.status_code >= 400:
            raise FirecrackerApiError(
                f"Firecracker rejected {method} {path}: {_fault_message(response)}",
                hint="see the VM's firecracker.log; the spec may not suit this Firecracker",
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def put(self, path: str, body: dict[str, Any]) -> None:
        self.request("PUT", path, body)

    def describe_instance(self) -> dict[str, Any]:
        info: dict[str, Any] = self.request("GET", "/")
        return info
