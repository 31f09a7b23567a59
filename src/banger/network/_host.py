"""Running `ip`/`nft`/`sysctl` on the host or inside a network namespace, and reading links.

Every adapter takes `netns`: None acts on the host; a name runs the same command through
`ip netns exec NS ...`, which is how tests (and the lead's tests) isolate real changes.
Links are measured from `ip -j` JSON, never by matching error text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from banger import proc


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """Prefix argv so it runs inside `netns` (ip netns exec NS argv...)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(argv: Sequence[str], netns: str | None, **kwargs: Any) -> proc.Completed:
    return proc.run(in_netns(argv, netns), **kwargs)


@dataclass(frozen=True)
class Link:
    """What we need to know about one network interface."""

    name: str
    kind: str | None  # "bridge", "tun", "veth", ... (None for plain devices)
    master: str | None
    up: bool  # administratively up (IFF_UP)
    ipv4: tuple[str, ...]  # "addr/prefixlen" strings; empty unless asked for


def _link_from_json(entry: dict[str, Any], ipv4: tuple[str, ...]) -> Link:
    return Link(
        name=entry["ifname"],
        kind=(entry.get("linkinfo") or {}).get("info_kind"),
        master=entry.get("master"),
        up="UP" in entry.get("flags", []),
        ipv4=ipv4,
    )


def list_links(netns: str | None) -> list[Link]:
    """All links in the namespace, without addresses (ip -d -j link show)."""
    shown = run(["ip", "-d", "-j", "link", "show"], netns)
    return [_link_from_json(entry, ()) for entry in json.loads(shown.stdout or "[]")]


def get_link(name: str, netns: str | None) -> Link | None:
    """The link called `name` with its IPv4 addresses, or None when it does not exist.

    ip -d -j link show ; ip -j -4 addr show
    """
    link = next((item for item in list_links(netns) if item.name == name), None)
    if link is None:
        return None
    shown = run(["ip", "-j", "-4", "addr", "show"], netns)
    for item in json.loads(shown.stdout or "[]"):
        if item.get("ifname") == name:
            ipv4 = tuple(f"{a['local']}/{a['prefixlen']}" for a in item.get("addr_info", []))
            return Link(link.name, link.kind, link.master, link.up, ipv4)
    return link
