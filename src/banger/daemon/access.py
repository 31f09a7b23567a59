"""Whom a request's host paths are read as: its SO_PEERCRED caller (banger.hostfiles).

bangerd is root, so it never opens a path a caller handed in with its own rights, and
never checks one either (a check by root, then a read by root, loses to a swapped
symlink; and the check alone tells a member whether root's files exist). That paths are
absolute is the request models' rule (api.requests.HostPath); they are opened by a child
with the caller's credentials at the moment of use (kernel import, image register,
build --copy, pull --docker-config).
"""

from __future__ import annotations

import os
import pwd

from fastapi import Request

from banger.daemon.peer import PEER_SCOPE_KEY, Peer
from banger.hostfiles import Caller


def request_caller(request: Request) -> Caller:
    """Whom to read the request's host paths as: the SO_PEERCRED peer, or the daemon's
    own user for a request that came without one."""
    peer: Peer | None = request.scope.get(PEER_SCOPE_KEY)
    if peer is None:
        return Caller(os.geteuid(), os.getegid())
    try:
        primary = pwd.getpwuid(peer.uid).pw_gid
    except KeyError:
        primary = min(peer.gids)
    # setpriv wants one gid; which of the peer's is primary does not change what it may read.
    gid = primary if primary in peer.gids else min(peer.gids)
    return Caller(peer.uid, gid, tuple(sorted(peer.gids)))
