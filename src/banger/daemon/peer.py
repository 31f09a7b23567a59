"""Who may talk to bangerd: root, or a member of the socket group — checked per connection.

File modes on the socket are the first fence; SO_PEERCRED is the one that counts, because
a socket file's mode can be loosened by mistake and an fd can be passed around.
"""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("banger.daemon.peer")

_UCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a UNIX socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def _supplementary_groups(pid: int) -> set[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                return {int(g) for g in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


PEER_SCOPE_KEY = "banger.peer"


@dataclass(frozen=True)
class Peer:
    """Who sent a request: what the daemon checks host paths against (see access.py)."""

    pid: int
    uid: int
    gids: frozenset[int]


def _with_peer(app: Any, peer: Peer) -> Any:
    """Wrap the ASGI app so every request on this connection carries its peer."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, PEER_SCOPE_KEY: peer}, receive, send)

    return asgi


def peer_allowed(pid: int, uid: int, gid: int, group_gid: int | None, daemon_uid: int) -> bool:
    if uid in (0, daemon_uid):
        return True
    if group_gid is None:
        return False
    return gid == group_gid or group_gid in _supplementary_groups(pid)


def group_gid(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def refusal_response(uid: int, group: str) -> bytes:
    body = json.dumps(
        {
            "code": "permission_denied",
            "message": f"uid {uid} may not use bangerd: it is neither root nor in group '{group}'",
            "hint": f"add the user to the group (usermod -aG {group} USER) and log in again",
        }
    ).encode()
    head = (
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


def make_protocol(group: str, daemon_uid: int) -> type[H11Protocol]:
    """An h11 protocol class that refuses disallowed peers before reading a request."""

    class PeerCheckedProtocol(H11Protocol):
        refused = False

        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family == socket.AF_UNIX:
                pid, uid, gid = peer_credentials(sock)
                if not peer_allowed(pid, uid, gid, group_gid(group), daemon_uid):
                    log.warning("refused connection from pid %d uid %d", pid, uid)
                    # Answer once the request has been read: closing with unread data
                    # would reset the connection before the client sees why.
                    self.refused = True
                    self.refused_transport = transport
                    self.refusal = refusal_response(uid, group)
                    asyncio.get_running_loop().call_later(5, transport.close)
                    return
                self.app = _with_peer(
                    self.app, Peer(pid, uid, frozenset({gid}) | _supplementary_groups(pid))
                )
            super().connection_made(transport)

        def data_received(self, data: bytes) -> None:
            if not self.refused:
                super().data_received(data)
            elif b"\r\n\r\n" in data and not self.refused_transport.is_closing():
                self.refused_transport.write(self.refusal)
                self.refused_transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.refused:
                super().connection_lost(exc)

    return PeerCheckedProtocol
