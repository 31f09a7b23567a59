"""Route helpers: the Services of the running app, and the Actor a request acts for."""

from __future__ import annotations

import os

from fastapi import Request

from banger.daemon.owners import Actor, actor_for, admin_gid
from banger.daemon.peer import PEER_SCOPE_KEY
from banger.daemon.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def actor(request: Request) -> Actor:
    """Whose objects this request may act on (daemon/owners.py): its SO_PEERCRED peer."""
    admin_group = services(request).config.admin_group
    return actor_for(request.scope.get(PEER_SCOPE_KEY), admin_gid(admin_group), os.geteuid())
