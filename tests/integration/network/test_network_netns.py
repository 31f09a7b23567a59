"""Bridge, taps and NAT for real, inside throwaway network namespaces."""

from __future__ import annotations

import json
import pwd
import sys
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network

import pytest

from banger import proc
from banger.errors import CommandFailed, Conflict, InvalidArgument
from banger.network import (
    NetworkConfig,
    create_tap,
    default_outbound_interface,
    delete_tap,
    ensure_bridge,
    ensure_nat,
    list_banger_taps,
    nat_table_exists,
    read_ip_forward,
    remove_bridge,
    remove_nat,
    tap_name,
)

from .conftest import links, nft_table
from .lab import PROBE

pytestmark = pytest.mark.integration

CFG = NetworkConfig(bridge="bgtest0", subnet=IPv4Network("10.213.7.0/24"), nft_table="banger")


def _uid_spellings(uid: int) -> set[object]:
    """ip -j shows the tap owner as a user name when one exists, else as the number."""
    try:
        return {uid, str(uid), pwd.getpwuid(uid).pw_name}
    except KeyError:
        return {uid, str(uid)}


def _rules(table: list[dict], chain: str) -> list[dict]:
    return [item["rule"] for item in table if "rule" in item and item["rule"]["chain"] == chain]


def test_full_lifecycle_is_idempotent_and_leaves_nothing(netns: str) -> None:
    # bridge
    assert ensure_bridge(CFG, netns=netns) is True
    assert ensure_bridge(CFG, netns=netns) is False
    bridge = links(netns)["bgtest0"]
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in bridge["flags"]
    addrs = [(a["local"], a["prefixlen"]) for a in bridge["addr_info"] if a["family"] == "inet"]
    assert addrs == [("10.213.7.1", 24)], "ensure twice must not add the address twice"

    # NAT
    assert read_ip_forward(netns=netns) is False  # a new namespace starts with forwarding off
    assert ensure_nat(CFG, netns=netns) is False
    assert ensure_nat(CFG, netns=netns) is True
    assert read_ip_forward(netns=netns) is True
    table = nft_table(netns, "ip", "banger")
    assert table is not None
    chains = {item["chain"]["name"]: item["chain"] for item in table if "chain" in item}
    assert chains["postrouting"]["type"] == "nat" and chains["postrouting"]["hook"] == "postrouting"
    assert chains["forward"]["hook"] == "forward" and chains["forward"]["policy"] == "accept"
    post = _rules(table, "postrouting")
    assert len(post) == 1, "re-applying must replace, not append"
    exprs = post[0]["expr"]
    assert {"masquerade": None} in exprs
    assert any(
        e.get("match", {}).get("right") == {"prefix": {"addr": "10.213.7.0", "len": 24}}
        for e in exprs
    )
    assert len(_rules(table, "forward")) == 5
    assert len(_rules(table, "input")) == 4

    # taps
    taps = [tap_name("vm-one"), tap_name("vm-two")]
    for tap in taps:
        assert create_tap(tap, CFG.bridge, owner=1000, netns=netns) is True
        assert create_tap(tap, CFG.bridge, owner=1000, netns=netns) is False
    now = links(netns)
    for tap in taps:
        assert now[tap]["linkinfo"]["info_kind"] == "tun"
        assert now[tap]["linkinfo"]["info_data"]["type"] == "tap"
        assert now[tap]["linkinfo"]["info_data"]["user"] in _uid_spellings(1000)
        assert now[tap]["master"] == "bgtest0"
        assert "UP" in now[tap]["flags"]
    assert list_banger_taps(netns=netns) == sorted(taps)
    assert list_banger_taps() == [t for t in list_banger_taps() if t not in taps]  # host untouched

    # teardown, each twice
    for tap in taps:
        assert delete_tap(tap, netns=netns) is True
        assert delete_tap(tap, netns=netns) is False
    assert list_banger_taps(netns=netns) == []
    remove_nat(CFG, netns=netns)
    remove_nat(CFG, netns=netns)
    assert nft_table(netns, "ip", "banger") is None
    assert remove_bridge(CFG, netns=netns) is True
    assert remove_bridge(CFG, netns=netns) is False
    assert set(links(netns)) == {"lo"}


def test_nat_never_touches_other_tables(netns: str) -> None:
    foreign = (
        "table ip other {\n chain c {\n"
        "  type filter hook forward priority 0; policy accept;\n  counter\n }\n}\n"
    )
    proc.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=foreign)
    cfg = NetworkConfig(bridge="bgtest1", nft_table="bngr_test")
    ensure_nat(cfg, netns=netns)
    assert nat_table_exists(cfg, netns=netns)
    remove_nat(cfg, netns=netns)
    assert not nat_table_exists(cfg, netns=netns)
    other = nft_table(netns, "ip", "other")
    assert other is not None and len(_rules(other, "c")) == 1


def test_outbound_interface_variant_is_accepted_by_nft(netns: str) -> None:
    proc.run(["ip", "-n", netns, "link", "add", "uplink0", "type", "veth", "peer", "name", "peer0"])
    cfg = NetworkConfig(bridge="bgtest2", outbound_interface="uplink0")
    ensure_nat(cfg, netns=netns)
    listed = proc.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "banger"])
    assert 'oifname "uplink0" masquerade' in listed.stdout


def test_invalid_bridge_name_is_one_clear_error(netns: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        ensure_bridge(NetworkConfig(bridge="a-bridge-name-too-long"), netns=netns)
    assert caught.value.one_line().count("\n") == 0
    assert "bridge" in caught.value.message and caught.value.hint
    assert set(links(netns)) == {"lo"}


def test_tap_on_missing_bridge_rolls_back(netns: str) -> None:
    tap = tap_name("orphan")
    with pytest.raises(CommandFailed) as caught:
        create_tap(tap, "nosuchbr0", netns=netns)
    assert caught.value.hint and "nosuchbr0" in caught.value.hint
    assert tap not in links(netns), "the half-made tap must be deleted again"


def test_name_clash_with_other_device_kinds_is_a_conflict(netns: str) -> None:
    proc.run(["ip", "-n", netns, "link", "add", "bgtest3", "type", "veth", "peer", "name", "peer0"])
    with pytest.raises(Conflict, match="not a bridge"):
        ensure_bridge(NetworkConfig(bridge="bgtest3"), netns=netns)
    with pytest.raises(Conflict, match="not a bridge"):
        remove_bridge(NetworkConfig(bridge="bgtest3"), netns=netns)
    with pytest.raises(Conflict, match="not a tap"):
        create_tap("bgtest3", "bgtest3", netns=netns)
    with pytest.raises(Conflict, match="not a tap"):
        delete_tap("bgtest3", netns=netns)
    assert links(netns)["bgtest3"]["linkinfo"]["info_kind"] == "veth"


def test_adapters_fail_clearly_for_a_missing_namespace() -> None:
    with pytest.raises(CommandFailed):
        ensure_bridge(CFG, netns="banger-t-does-not-exist")


def test_default_outbound_interface(netns: str) -> None:
    # no default route in a fresh namespace
    assert default_outbound_interface(netns=netns) is None
    proc.run(["ip", "-n", netns, "link", "add", "up0", "type", "veth", "peer", "name", "peer0"])
    proc.run(["ip", "-n", netns, "link", "set", "up0", "up"])
    proc.run(["ip", "-n", netns, "addr", "add", "10.99.0.2/24", "dev", "up0"])
    proc.run(["ip", "-n", netns, "route", "add", "default", "via", "10.99.0.1"])
    assert default_outbound_interface(netns=netns) == "up0"


def _counters(netns: str) -> dict[str, int]:
    listed = proc.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "ip", "seen"])
    counts: dict[str, int] = {}
    for item in json.loads(listed.stdout)["nftables"]:
        rule = item.get("rule")
        if rule:
            packets = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
            counts[rule["comment"]] = packets
    return counts


def test_vm_traffic_leaves_masqueraded(netns: str) -> None:
    """A 'VM' (veth in its own namespace, standing in for a tap with a VMM behind it) sends
    UDP to an 'outside' namespace; the outside must see the host's uplink address."""
    from .conftest import delete_netns, new_netns

    vm_ns, outside_ns = new_netns(), new_netns()
    try:
        ensure_bridge(CFG, netns=netns)

        def ip(ns: str, *args: str) -> None:
            proc.run(["ip", "-n", ns, *args])

        vm_end = ["peer", "name", "vmeth", "netns", vm_ns]
        ip(netns, "link", "add", "vmport", "type", "veth", *vm_end)
        ip(netns, "link", "set", "vmport", "master", CFG.bridge, "up")
        ip(vm_ns, "addr", "add", "10.213.7.2/24", "dev", "vmeth")
        ip(vm_ns, "link", "set", "vmeth", "up")
        ip(vm_ns, "route", "add", "default", "via", str(CFG.gateway))
        wan = ["peer", "name", "wan", "netns", outside_ns]
        ip(netns, "link", "add", "uplink", "type", "veth", *wan)
        ip(netns, "addr", "add", "198.18.0.1/24", "dev", "uplink")
        ip(netns, "link", "set", "uplink", "up")
        ip(outside_ns, "addr", "add", "198.18.0.2/24", "dev", "wan")
        ip(outside_ns, "link", "set", "wan", "up")
        seen = (
            "table ip seen {\n chain pre {\n  type filter hook prerouting priority 0;\n"
            '  ip saddr 198.18.0.1 udp dport 9 counter comment "masqueraded"\n'
            '  ip saddr 10.213.7.0/24 udp dport 9 counter comment "raw"\n }\n}\n'
        )
        proc.run(["ip", "netns", "exec", outside_ns, "nft", "-f", "-"], input=seen)
        probe = [sys.executable, str(PROBE), "udp", "10.213.7.2", "198.18.0.2", "9"]
        send = ["ip", "netns", "exec", vm_ns, *probe]

        proc.run(send, input="before nat\n", timeout=10)
        assert _counters(outside_ns) == {"masqueraded": 0, "raw": 0}  # forwarding still off

        ensure_nat(CFG, netns=netns)
        proc.run(send, input="after nat\n", timeout=10)
        assert _counters(outside_ns) == {"masqueraded": 1, "raw": 0}

        remove_nat(CFG, netns=netns)  # forwarding stays on, but without NAT: raw source
        proc.run(send, input="after removal\n", timeout=10)
        assert _counters(outside_ns) == {"masqueraded": 1, "raw": 1}
    finally:
        delete_netns(vm_ns)
        delete_netns(outside_ns)


def test_concurrent_ensures_converge_on_one_bridge_and_tap(netns: str) -> None:
    tap = tap_name("raced")
    with ThreadPoolExecutor(max_workers=4) as pool:
        bridges = list(pool.map(lambda _: ensure_bridge(CFG, netns=netns), range(4)))
        taps = list(pool.map(lambda _: create_tap(tap, CFG.bridge, netns=netns), range(4)))
    assert bridges.count(True) == 1 and taps.count(True) == 1
    now = links(netns)
    assert now[tap]["master"] == CFG.bridge
    inet = [a for a in now[CFG.bridge]["addr_info"] if a["family"] == "inet"]
    assert len(inet) == 1
