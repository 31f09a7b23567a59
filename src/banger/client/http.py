"""Talk to bangerd; convert every transport or HTTP failure into a BangerError here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from banger import errors
from banger.api import API_PREFIX
from banger.client import wire

if TYPE_CHECKING:
    from banger.api.models import OperationEvent

CONNECT_TIMEOUT = 5.0

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
    """bangerd's API: JSON in, JSON out; every failure a BangerError (one line, a hint)."""

    def __init__(self, socket_path: Path, *, timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def close(self) -> None:
        """Nothing to release: each request has its own connection."""

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

    @staticmethod
    def _target(path: str, params: dict[str, Any] | None) -> str:
        target = quote(API_PREFIX + path, safe="/?&=")
        # Booleans as the daemon's query parsing reads them ("true"/"false"), None left out.
        given = {k: str(v).lower() if isinstance(v, bool) else v for k, v in (params or {}).items()}
        query = urlencode({k: v for k, v in given.items() if v is not None})
        return f"{target}{'&' if '?' in target else '?'}{query}" if query else target

    @contextmanager
    def _exchange(
        self, method: str, path: str, params: dict[str, Any] | None, body: bytes | None,
        timeout: float | None,
    ) -> Iterator[wire.Response]:  # fmt: skip
        """One request; transport failures become BangerErrors, as do HTTP errors."""
        try:
            with wire.exchange(
                self.socket_path, method, self._target(path, params), body,
                connect_timeout=CONNECT_TIMEOUT, timeout=timeout,
            ) as response:  # fmt: skip
                if response.is_error:
                    self._decode(response.status, response.read())
                yield response
        except TimeoutError as exc:
            raise errors.Unavailable(
                f"bangerd did not answer {method} {path} in time", hint="see the daemon log"
            ) from exc
        except OSError as exc:
            raise self._unreachable(exc) from None

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        body = None if json is None else _dumps(json)
        with self._exchange(method, path, params, body, self.timeout) as response:
            content = response.read()
        return self._decode(response.status, content)

    @staticmethod
    def _decode(status: int, content: bytes) -> Any:
        try:
            body = json.loads(content) if content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status >= 400:
            raise error_from_body(status, body)
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

    @contextmanager
    def _stream(self, path: str, **params: str) -> Iterator[wire.Response]:
        """A streamed GET with no read timeout; failures become BangerErrors, as in `request`."""
        with self._exchange("GET", path, params, None, None) as response:
            yield response

    def events(self, op_id: str) -> Iterator[OperationEvent]:
        """Follow an operation's NDJSON stream until it ends."""
        from banger.api.models import OperationEvent  # pydantic: only verbs that follow one

        with self._stream(f"/operations/{op_id}/events") as response:
            for line in response.iter_lines():
                if line.strip():
                    yield OperationEvent.model_validate_json(line)

    def console(self, vm: str, *, follow: bool = False) -> Iterator[bytes]:
        """A VM's serial console as it comes; with `follow`, until the VM stops."""
        with self._stream(f"/vms/{vm}/console", follow=str(follow).lower()) as response:
            yield from response.iter_bytes()


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
