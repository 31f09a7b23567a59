"""Network namespaces for real bridge/tap/nft tests: created per test, always deleted."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from banger import proc


def new_netns() -> str:
    name = f"banger-t-{secrets.token_hex(4)}"
    proc.run(["ip", "netns", "add", name])
    # A new namespace may inherit the host's forwarding setting: start from "off", always.
    proc.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
    return name


def delete_netns(name: str) -> None:
    # Deleting the namespace also destroys any bridge, tap or veth still inside it.
    proc.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    name = new_netns()
    try:
        yield name
    finally:
        delete_netns(name)


def links(netns: str) -> dict[str, dict[str, Any]]:
    """ip -d -j addr show, inside netns, keyed by interface name."""
    out = proc.run(["ip", "-n", netns, "-d", "-j", "addr", "show"]).stdout
    return {entry["ifname"]: entry for entry in json.loads(out)}


def nft_table(netns: str, family: str, table: str) -> list[dict[str, Any]] | None:
    """nft -j list table, inside netns; None when the table does not exist."""
    listed = proc.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "tables"]).stdout
    names = [
        (item["table"]["family"], item["table"]["name"])
        for item in json.loads(listed)["nftables"]
        if "table" in item
    ]
    if (family, table) not in names:
        return None
    argv = ["ip", "netns", "exec", netns, "nft", "-j", "list", "table", family, table]
    return json.loads(proc.run(argv).stdout)["nftables"]
