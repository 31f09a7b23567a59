"""Who may act on an object: the one access rule of the daemon, as a pure function.

Every VM, image, kernel and operation has an owner (the uid that created it). Root, the
daemon's own user and members of the configured `admin_group` act on everything; any
other member of the socket group acts only on their own objects, and may use (list, show,
boot, build from) images and kernels their owner shared. An object a caller may not see is
reported exactly like one that does not exist, so other users' names do not leak.
"""

from __future__ import annotations

import grp
from dataclasses import dataclass
from enum import Enum

from banger.daemon.peer import Peer


class Access(Enum):
    USE = "use"  # list, show, boot from, build from, read a console, follow an operation
    MANAGE = "manage"  # stop, delete, promote, share, unshare, cancel


class Verdict(Enum):
    ALLOW = "allow"
    FORBID = "forbid"  # the caller sees it (shared) but may not do this: 403
    HIDE = "hide"  # not the caller's and not shared: as if it did not exist, 404


@dataclass(frozen=True)
class Actor:
    """The user a request acts for."""

    uid: int
    admin: bool  # root, the daemon's own user, or a member of admin_group

    @property
    def list_scope(self) -> int | None:
        """The owner a listing is limited to; None: everything (an admin)."""
        return None if self.admin else self.uid


ROOT = Actor(uid=0, admin=True)


def decide(actor: Actor, owner_uid: int, shared: bool, access: Access) -> Verdict:
    """May `actor` do `access` to an object of `owner_uid` that is (or is not) shared?"""
    if actor.admin or actor.uid == owner_uid:
        return Verdict.ALLOW
    if shared:
        return Verdict.ALLOW if access is Access.USE else Verdict.FORBID
    return Verdict.HIDE


def admin_gid(name: str | None) -> int | None:
    """The admin group's gid, looked up per request so a group created later counts."""
    if name is None:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def actor_for(peer: Peer | None, admin_group_gid: int | None, daemon_uid: int) -> Actor:
    """The actor of a request: its SO_PEERCRED peer, or root for an in-process request
    (nothing outside the daemon can send one)."""
    if peer is None:
        return ROOT
    admin = peer.uid in (0, daemon_uid) or (
        admin_group_gid is not None and admin_group_gid in peer.gids
    )
    return Actor(uid=peer.uid, admin=admin)
