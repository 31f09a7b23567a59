"""The host's uplink, for a config that wants NAT pinned to one interface."""

from __future__ import annotations

import json

from banger.network._host import run


def default_outbound_interface(*, netns: str | None = None) -> str | None:
    """The interface of the IPv4 default route, or None when there is no default route.

    ip -j -4 route show default
    """
    shown = run(["ip", "-j", "-4", "route", "show", "default"], netns)
    for route in json.loads(shown.stdout or "[]"):
        if route.get("dev"):
            return str(route["dev"])
    return None
