"""Refuse request bodies above [limits] max_request_bytes before any of them is read.

FastAPI reads a JSON body whole into memory to validate it, so without a bound one member
could make the root daemon allocate gigabytes with a single POST. The declared length is
checked first (the HTTP server then delivers no more than it declares); a body without
one (chunked transfer) is refused: banger's own client always declares it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a 413 (or 411) with banger's one-line error body, or the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            await _refuse(send, 411, "a request body must declare its length (no chunked bodies)")
            return
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _refuse(send, 400, "the request's Content-Length is not a number")
                return
            if length > self.max_bytes:
                await _refuse(
                    send,
                    413,
                    f"the request body of {length} bytes is above the limit {self.max_bytes} "
                    "bytes (config limits.max_request_bytes)",
                )
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps(
        {
            "code": "invalid_argument",
            "message": message,
            "hint": "send less (scripts and copies are read by the daemon from files), or "
            "raise [limits] max_request_bytes in /etc/banger/config.toml",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
