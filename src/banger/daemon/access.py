"""Host paths from a caller are read by a root daemon: only if the caller could read them.

Without this, anyone in the socket group could make bangerd copy /etc/shadow into an
image they own. The check follows the path as the kernel would for the caller: search
(x) permission on every directory, read permission on the file itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi import Request

from banger.daemon.peer import PEER_SCOPE_KEY, Peer
from banger.errors import InvalidArgument, PermissionDenied


def _allowed(st: os.stat_result, peer: Peer, bit: int) -> bool:
    """bit: 4 read, 1 execute/search — against owner, group or other bits like the kernel."""
    if st.st_uid == peer.uid:
        return bool(st.st_mode >> 6 & bit)
    if st.st_gid in peer.gids:
        return bool(st.st_mode >> 3 & bit)
    return bool(st.st_mode & bit)


def require_readable(request: Request, raw: str | None, what: str) -> None:
    """Refuse `raw` unless the requesting user could read it (root may read anything)."""
    if raw is None:
        return
    peer: Peer | None = request.scope.get(PEER_SCOPE_KEY)
    path = Path(raw)
    if not path.is_absolute():
        raise InvalidArgument(f"{what} {raw} is not an absolute path", hint="pass a full path")
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
