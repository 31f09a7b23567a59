"""banger.client over a real UNIX socket, with a peer that answers exactly the bytes given.

The real daemon's answers are covered by tests/integration/client; here the peer sends
what uvicorn might (lengths, chunks split mid-line, close-delimited bodies) and what it
should not (truncated or non-HTTP answers, silence), so each framing path is exercised.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from banger import errors
from banger.client import Client
from banger.client.wire import exchange


class Peer:
    """Serves one scripted answer per connection; records each request's bytes."""

    def __init__(self, path: Path, answers: list[bytes]) -> None:
        self.requests: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen()
        self._thread = threading.Thread(target=self._serve, args=(answers,), daemon=True)
        self._thread.start()

    def _serve(self, answers: list[bytes]) -> None:
        for answer in answers:
            conn, _ = self._server.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")), 0,
                )  # fmt: skip
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                if answer:
                    conn.sendall(answer)
                else:
                    threading.Event().wait(2)  # silence: the client's timeout must fire

    def close(self) -> None:
        self._server.close()


Serve = Callable[..., Peer]


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "bangerd.sock"


@pytest.fixture
def serve(sock: Path) -> Iterator[Serve]:
    peers: list[Peer] = []

    def start(*answers: bytes) -> Peer:
        peers.append(Peer(sock, list(answers)))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


def _json(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


def _chunked(*chunks: bytes) -> bytes:
    framed = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"


def test_a_json_answer_and_the_request_line(sock: Path, serve: Serve) -> None:
    peer = serve(_json("200 OK", b'[{"name": "a"}]'), _json("200 OK", b'{"id": "x"}'))
    client = Client(sock)
    assert client.get("/vms", owner="a b", all=True, skipped=None) == [{"name": "a"}]
    assert client.post("/vms/a/start?wait=true", {"n": 1}) == {"id": "x"}
    get, post = peer.requests
    assert get.startswith(b"GET /v1/vms?owner=a+b&all=true HTTP/1.1\r\n")
    assert post.startswith(b"POST /v1/vms/a/start?wait=true HTTP/1.1\r\n")
    assert post.endswith(b'\r\n\r\n{"n":1}') and b"Content-Length: 7\r\n" in post


def test_chunks_split_mid_line_still_give_whole_lines(sock: Path, serve: Serve) -> None:
    serve(_chunked(b'{"a": 1}\n{"b"', b": 2}\n", b'{"c": 3}'))
    with exchange(sock, "GET", "/x", None, connect_timeout=1, timeout=5) as response:
        assert list(response.iter_lines()) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_a_body_that_ends_when_the_peer_closes(sock: Path, serve: Serve) -> None:
    serve(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"ok": true}')
    assert Client(sock).get("/x") == {"ok": True}


def test_an_error_answer_is_the_banger_error_it_names(sock: Path, serve: Serve) -> None:
    body = b'{"code": "not_found", "message": "no VM named \'x\'", "hint": "banger vm list"}'
    serve(_json("404 Not Found", body))
    with pytest.raises(errors.NotFound) as err:
        Client(sock).get("/vms/x")
    assert err.value.message == "no VM named 'x'" and err.value.hint == "banger vm list"


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"trunc',  # closes mid-body
        b"SSH-2.0-OpenSSH_9.2\r\n",  # not HTTP at all
        _chunked(b"x")[:-7],  # closes mid-chunks
    ],
)
def test_a_broken_answer_is_one_unavailable_error(sock: Path, serve: Serve, answer: bytes) -> None:
    serve(answer)
    with pytest.raises(errors.Unavailable) as err:
        Client(sock).get("/vms")
    assert str(sock) in err.value.message


def test_silence_is_a_timeout_not_a_hang(sock: Path, serve: Serve) -> None:
    serve(b"")
    with pytest.raises(errors.Unavailable, match="did not answer GET /vms in time"):
        Client(sock, timeout=0.3).get("/vms")
