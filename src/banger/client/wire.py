"""HTTP/1.1 over bangerd's UNIX socket, with the standard library only.

The CLI opens one connection per request and reads the answer to its end (`Connection:
close`): the socket is local, so a connect costs microseconds, while httpx's import alone
cost every `banger` command ~80 ms. Bodies come with a Content-Length, chunked (uvicorn's
streams: operation events, the console) or until the server closes.

Failures are OSErrors: the connect's own (FileNotFoundError, ConnectionRefusedError,
PermissionError), TimeoutError, or ProtocolError for an answer that is not HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_HEADER_LINE = 64 << 10
MAX_HEADERS = 100


class ProtocolError(ConnectionError):
    """The peer closed early or answered something that is not HTTP/1.x."""


@dataclass
class Response:
    """A response whose status and headers are read; its body is read on demand."""

    status: int
    headers: dict[str, str]  # names lower-cased
    _file: BinaryIO

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    def iter_bytes(self) -> Iterator[bytes]:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            yield from _chunks(self._file)
        elif "content-length" in self.headers:
            yield _exactly(self._file, int(self.headers["content-length"]))
        else:
            while block := self._file.read(64 << 10):
                yield block

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def iter_lines(self) -> Iterator[bytes]:
        pending = b""
        for block in self.iter_bytes():
            *lines, pending = (pending + block).split(b"\n")
            yield from lines
        if pending:
            yield pending


def _line(file: BinaryIO) -> bytes:
    line = file.readline(MAX_HEADER_LINE + 1)
    if not line.endswith(b"\n"):
        raise ProtocolError("the connection closed in the middle of the answer")
    return line.rstrip(b"\r\n")


def _exactly(file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ProtocolError("the connection closed in the middle of the answer")
    return data


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    while True:
        size_field = _line(file).split(b";", 1)[0]
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_field[:20]!r}") from None
        if size == 0:
            while _line(file):  # trailers, up to the blank line
                pass
            return
        yield _exactly(file, size)
        _line(file)  # the CRLF after each chunk


def _read_head(file: BinaryIO) -> tuple[int, dict[str, str]]:
    status_line = _line(file).decode("latin-1")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"not an HTTP answer: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = _line(file)
        if not line:
            return int(rest[:3]), headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ProtocolError("too many header lines")


@contextmanager
def exchange(
    socket_path: Path,
    method: str,
    target: str,
    body: bytes | None,
    *,
    connect_timeout: float,
    timeout: float | None,
) -> Iterator[Response]:
    """Send one request; yield the response with its body unread; close on the way out."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(connect_timeout)
        sock.connect(str(socket_path))
        sock.settimeout(timeout)
        head = [f"{method} {target} HTTP/1.1", "Host: bangerd", "Connection: close"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        with sock.makefile("rb") as file:
            status, headers = _read_head(file)
            yield Response(status, headers, file)
