"""Talk to bangerd; convert every transport or HTTP failure into a BangerError here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from banger import errors
from banger.api import API_PREFIX
from banger.api.models import OperationEvent

_BY_CODE: dict[str, type[errors.BangerError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.Conflict,
        errors.FailedPrecondition,
        errors.PermissionDenied,
        errors.Unavailable,
        errors.BootFailed,
        errors.Cancelled,
    )
}


def error_from_body(status: int, body: Any) -> errors.BangerError:
    if isinstance(body, dict) and "message" in body:
        exit_code = body.get("exit_code")
        if body.get("code") == errors.StepFailed.code and isinstance(exit_code, int):
            return errors.StepFailed(
                str(body["message"]), exit_code=exit_code, hint=body.get("hint")
            )
        cls = _BY_CODE.get(str(body.get("code")), errors.BangerError)
        return cls(str(body["message"]), hint=body.get("hint"), code=str(body.get("code")))
    return errors.BangerError(f"bangerd answered HTTP {status}", hint="see the daemon log")


class Client:
    def __init__(self, socket_path: Path, *, timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket_path)),
            base_url=f"http://bangerd{API_PREFIX}",
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _unreachable(self, exc: Exception) -> errors.BangerError:
        cause = exc.__cause__ or exc.__context__ or exc
        if isinstance(cause, PermissionError) or "Permission denied" in str(exc):
            return errors.PermissionDenied(
                f"no permission to use the bangerd socket {self.socket_path}",
                hint="add your user to group 'banger' (sudo usermod -aG banger $USER), "
                "then log in again",
            )
        return errors.Unavailable(
            f"bangerd is not reachable at {self.socket_path}",
            hint="start it with `sudo banger daemon start` (or run ./scripts/setup)",
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise self._unreachable(exc) from None
        except httpx.TimeoutException as exc:
            raise errors.Unavailable(
                f"bangerd did not answer {method} {path} in time", hint="see the daemon log"
            ) from exc
        return self._decode(response)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            body = response.json() if response.content else None
        except json.JSONDecodeError:
            body = None
        if response.is_error:
            raise error_from_body(response.status_code, body)
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def delete(self, path: str, **params: Any) -> Any:
        return self.request(
            "DELETE", path, params={k: v for k, v in params.items() if v is not None}
        )

    @contextmanager
    def _stream(self, path: str, **params: str) -> Iterator[httpx.Response]:
        """A streamed GET with no read timeout; failures become BangerErrors, as in `request`."""
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(None, connect=5.0)
            ) as response:
                if response.is_error:
                    response.read()
                    self._decode(response)
                yield response
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise self._unreachable(exc) from None

    def events(self, op_id: str) -> Iterator[OperationEvent]:
        """Follow an operation's NDJSON stream until it ends."""
        with self._stream(f"/operations/{op_id}/events") as response:
            for line in response.iter_lines():
                if line.strip():
                    yield OperationEvent.model_validate_json(line)

    def console(self, vm: str, *, follow: bool = False) -> Iterator[bytes]:
        """A VM's serial console as it comes; with `follow`, until the VM stops."""
        with self._stream(f"/vms/{vm}/console", follow=str(follow).lower()) as response:
            yield from response.iter_bytes()
