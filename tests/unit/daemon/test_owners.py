"""The access rule (daemon/owners.py) as a matrix, and who counts as an admin."""

from __future__ import annotations

import pytest

from banger.daemon.owners import ROOT, Access, Actor, Verdict, actor_for, decide
from banger.daemon.peer import Peer

OWNER, OTHER, ADMIN_GID, DAEMON = 1001, 1002, 4242, 0
ALICE = Actor(uid=OWNER, admin=False)
BOB = Actor(uid=OTHER, admin=False)
ADMIN = Actor(uid=1003, admin=True)


@pytest.mark.parametrize(
    ("actor", "shared", "access", "expected"),
    [
        # The owner may do everything to their own object, shared or not.
        (ALICE, False, Access.USE, Verdict.ALLOW),
        (ALICE, False, Access.MANAGE, Verdict.ALLOW),
        (ALICE, True, Access.MANAGE, Verdict.ALLOW),
        # Anyone else: an unshared object does not exist for them, whatever they want.
        (BOB, False, Access.USE, Verdict.HIDE),
        (BOB, False, Access.MANAGE, Verdict.HIDE),
        # A shared one they may use, but changing it is refused openly (they can see it).
        (BOB, True, Access.USE, Verdict.ALLOW),
        (BOB, True, Access.MANAGE, Verdict.FORBID),
        # Root and admins: everything, shared or not.
        (ROOT, False, Access.MANAGE, Verdict.ALLOW),
        (ADMIN, False, Access.USE, Verdict.ALLOW),
        (ADMIN, False, Access.MANAGE, Verdict.ALLOW),
        (ADMIN, True, Access.MANAGE, Verdict.ALLOW),
    ],
)
def test_decision_matrix(actor: Actor, shared: bool, access: Access, expected: Verdict) -> None:
    assert decide(actor, OWNER, shared, access) is expected


def test_root_owned_objects_are_hidden_from_members_unless_shared() -> None:
    # Records from before owners belong to uid 0: a member sees them only once shared.
    assert decide(ALICE, 0, False, Access.USE) is Verdict.HIDE
    assert decide(ALICE, 0, True, Access.USE) is Verdict.ALLOW
    assert decide(ALICE, 0, True, Access.MANAGE) is Verdict.FORBID


def _peer(uid: int, *gids: int) -> Peer:
    return Peer(pid=1, uid=uid, gids=frozenset(gids or {uid}))


@pytest.mark.parametrize(
    ("peer", "admin_gid", "expected"),
    [
        (None, None, ROOT),  # in-process: nothing outside the daemon sends those
        (_peer(0), None, Actor(0, True)),
        (_peer(OWNER, 100), None, Actor(OWNER, False)),
        (_peer(OWNER, 100, ADMIN_GID), None, Actor(OWNER, False)),  # no admin_group configured
        (_peer(OWNER, 100, ADMIN_GID), ADMIN_GID, Actor(OWNER, True)),
        (_peer(OWNER, 100), ADMIN_GID, Actor(OWNER, False)),
    ],
)
def test_actor_of_a_request(peer: Peer | None, admin_gid: int | None, expected: Actor) -> None:
    assert actor_for(peer, admin_gid, DAEMON) == expected


def test_the_daemons_own_user_is_an_admin() -> None:
    # A daemon run as an ordinary user (development) owns all state anyway.
    assert actor_for(_peer(1500, 1500), None, daemon_uid=1500).admin


def test_lists_are_limited_to_the_caller_unless_admin() -> None:
    assert ALICE.list_scope == OWNER
    assert ADMIN.list_scope is None and ROOT.list_scope is None
