"""Host paths from a caller are read by a root daemon: only if the caller could read them.

Without this, anyone in the socket group could make bangerd copy /etc/shadow into an
image they own. The check follows the path as the kernel would for the caller: search
(x) permission on every directory, read permission on the file itself.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from fastapi import Request

from banger.daemon.peer import PEER_SCOPE_KEY, Peer
from banger.errors import InvalidArgument, PermissionDenied
from banger.kernels import Caller


def _allowed(st: os.stat_result, peer: Peer, bit: int) -> bool:
    """bit: 4 read, 1 execute/search — against owner, group or other bits like the kernel."""
    if st.st_uid == peer.uid:
        return bool(st.st_mode >> 6 & bit)
    if st.st_gid in peer.gids:
        return bool(st.st_mode >> 3 & bit)
    return bool(st.st_mode & bit)


def require_absolute(raw: str | None, what: str) -> None:
    if raw is not None and not Path(raw).is_absolute():
        raise InvalidArgument(f"{what} {raw} is not an absolute path", hint="pass a full path")


def request_caller(request: Request) -> Caller:
    """Whom to read the request's host paths as (kernels/caller.py): the SO_PEERCRED peer,
    or the daemon's own user for a request that came without one."""
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


def require_readable(request: Request, raw: str | None, what: str) -> None:
    """Refuse `raw` unless the requesting user could read it (root may read anything).

    Advisory only: a check by root, then a read by root, loses to a swapped symlink. Kernel
    imports therefore read as the caller instead (require_absolute + request_caller).
    """
    if raw is None:
        return
    peer: Peer | None = request.scope.get(PEER_SCOPE_KEY)
    path = Path(raw)
    require_absolute(raw, what)
    if peer is None or peer.uid == 0:
        return
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidArgument(f"{what} {raw} does not exist", hint="check the path") from None
    for directory in reversed(real.parents):
        if not _allowed(directory.stat(), peer, 1):
            raise PermissionDenied(
                f"{what} {raw}: uid {peer.uid} may not enter {directory}",
                hint="use a file your user can read",
            )
    for entry in _tree(real):
        st = entry.stat()
        needed = (4, 1) if stat.S_ISDIR(st.st_mode) else (4,)
        if all(_allowed(st, peer, bit) for bit in needed):
            continue
        raise PermissionDenied(
            f"{what} {raw}: uid {peer.uid} may not read {entry}",
            hint="use a file your user can read",
        )


def _tree(root: Path) -> list[Path]:
    """The path itself, and for a directory everything below it (links are not followed)."""
    if not root.is_dir():
        return [root]
    found = [root]
    for current, dirs, files in os.walk(root):
        base = Path(current)
        found.extend(base / name for name in dirs + files if not (base / name).is_symlink())
    return found
