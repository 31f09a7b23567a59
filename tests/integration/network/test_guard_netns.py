"""Hostile guests against banger's rules, for real: nftables, a bridge and veths in
throwaway namespaces (lab.py). Each check first shows the attack working without the rule
that stops it, so it fails if that rule stops working."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from banger import proc
from banger.network import (
    GuardedPort,
    NetworkConfig,
    ensure_guard,
    ensure_nat,
    guard_port,
    guard_ruleset,
    guarded_taps,
    remove_guard,
    remove_nat,
    unguard_port,
)

from .conftest import nft_table
from .lab import CFG, METADATA, OUTSIDE, UPLINK, Lab, ip, network_lab, probe, reaches

pytestmark = pytest.mark.integration


@pytest.fixture
def lab() -> Iterator[Lab]:
    with network_lab() as made:
        yield made


def _counters(ns: str, family: str, table: str) -> dict[str, int]:
    """Packets counted per rule comment in a test-only table."""
    listed = proc.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", family, table])
    counts: dict[str, int] = {}
    for item in json.loads(listed.stdout)["nftables"]:
        rule = item.get("rule")
        if rule:
            counts[rule["comment"]] = next(
                e["counter"]["packets"] for e in rule["expr"] if "counter" in e
            )
    return counts


def _nft(ns: str, script: str) -> None:
    proc.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script)


def test_owners_meet_only_their_own_vms(lab: Lab) -> None:
    a1, a2, b1 = lab.guests["a1"], lab.guests["a2"], lab.guests["b1"]
    assert reaches(a1.ns, b1.ip), "baseline: one L2 segment, everyone meets everyone"

    lab.guard()
    assert reaches(a1.ns, a2.ip) and reaches(a2.ns, a1.ip)
    assert not reaches(a1.ns, b1.ip) and not reaches(b1.ns, a1.ip)
    assert not reaches(b1.ns, a2.ip)
    assert reaches(b1.ns, str(CFG.gateway)), "b1 itself is fine: only its peers are cut"

    # A second daemon's guard table (its own name, no ports) must not judge these taps.
    other = NetworkConfig(bridge="bggrd1", nft_table="bgguard2")
    ensure_guard(other, netns=lab.host)
    assert reaches(a1.ns, a2.ip)
    remove_guard(other, netns=lab.host)

    # A guest without an owner (an image builder) reaches no VM, even of the same uid.
    guard_port(CFG, GuardedPort(a2.tap, a2.mac, a2.port.ip, None), netns=lab.host)
    assert not reaches(a1.ns, a2.ip) and reaches(a2.ns, str(CFG.gateway))


def test_no_detour_through_the_host_between_owners(lab: Lab) -> None:
    a1, b1 = lab.guests["a1"], lab.guests["b1"]
    lab.guard()
    # Both guests route each other via the gateway, so frames go to the host, not across.
    ip(a1.ns, "route", "add", f"{b1.ip}/32", "via", str(CFG.gateway))
    ip(b1.ns, "route", "add", f"{a1.ip}/32", "via", str(CFG.gateway))
    for ns in (a1.ns, b1.ns):  # a redirect would send them on-link, past the test's point
        proc.run(
            ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0"]
        )
    assert not reaches(a1.ns, b1.ip)
    # Without the guard's output rule the detour opens (the rule is what stops it).
    _nft(lab.host, f"flush chain bridge {CFG.nft_table} output\n")
    assert reaches(a1.ns, b1.ip)


def test_forged_ip_mac_and_arp_are_dropped(lab: Lab) -> None:
    a1, a2 = lab.guests["a1"], lab.guests["a2"]
    gateway, forged_mac = str(CFG.gateway), "02:de:ad:be:ef:01"
    _nft(lab.host, (
        "table ip seen {\n chain pre {\n  type filter hook prerouting priority -400;\n"
        f'  ip saddr {a1.ip} udp dport 9 counter comment "honest"\n'
        f'  ip saddr 10.213.9.99 udp dport 9 counter comment "foreign subnet address"\n'
        f'  ip saddr {a2.ip} udp dport 9 counter comment "peer address"\n'
        f'  ip saddr 203.0.113.66 udp dport 9 counter comment "outside address"\n'
        " }\n}\n"
        "table arp seen {\n chain in {\n  type filter hook input priority -400;\n"
        f'  arp saddr ip {a1.ip} arp saddr ether {a1.mac} counter comment "honest"\n'
        f'  arp saddr ip {a2.ip} counter comment "peer address"\n'
        f'  arp saddr ip {a1.ip} arp saddr ether {forged_mac} counter comment "forged sender"\n'
        " }\n}\n"
    ))  # fmt: skip
    for alias in ("10.213.9.99", a2.ip, "203.0.113.66"):
        ip(a1.ns, "addr", "add", f"{alias}/32", "dev", "eth0")

    def attack() -> None:
        for source in (a1.ip, "10.213.9.99", a2.ip, "203.0.113.66"):
            assert probe(a1.ns, "udp", source, gateway, "9") == 0
        # forged Ethernet source (the rest honest), then forged ARP fields on an honest frame
        ip(a1.ns, "link", "set", "eth0", "address", forged_mac)
        assert probe(a1.ns, "udp", a1.ip, gateway, "9") == 0
        assert probe(a1.ns, "arp", "eth0", forged_mac, a1.mac, a1.ip, gateway) == 0
        ip(a1.ns, "link", "set", "eth0", "address", a1.mac)
        assert probe(a1.ns, "arp", "eth0", a1.mac, a1.mac, a1.ip, gateway) == 0
        assert probe(a1.ns, "arp", "eth0", a1.mac, a1.mac, a2.ip, gateway) == 0
        assert probe(a1.ns, "arp", "eth0", a1.mac, forged_mac, a1.ip, gateway) == 0

    attack()  # baseline: the host hears every lie
    ip_seen, arp_seen = _counters(lab.host, "ip", "seen"), _counters(lab.host, "arp", "seen")
    assert ip_seen == {"honest": 2, "foreign subnet address": 1, "peer address": 1,
                       "outside address": 1}  # fmt: skip
    assert arp_seen["honest"] >= 1 and arp_seen["peer address"] >= 1
    assert arp_seen["forged sender"] >= 1

    lab.guard()
    arp_before = arp_seen
    attack()
    ip_seen = _counters(lab.host, "ip", "seen")
    assert ip_seen == {"honest": 3, "foreign subnet address": 1, "peer address": 1,
                       "outside address": 1}, "only the honest datagram may pass"  # fmt: skip
    arp_seen = _counters(lab.host, "arp", "seen")
    assert arp_seen["honest"] > arp_before["honest"]
    assert arp_seen["peer address"] == arp_before["peer address"]
    assert arp_seen["forged sender"] == arp_before["forged sender"]


def test_host_services_and_metadata_are_out_of_reach(lab: Lab) -> None:
    a1 = lab.guests["a1"]
    gateway = str(CFG.gateway)
    lab.listen(lab.host, 7777)  # a host service on every host address, the LAN one included
    lab.listen(a1.ns, 7778)  # sshd stand-in in the guest
    ip(lab.outside, "route", "add", str(CFG.subnet), "via", UPLINK)  # for the un-NATed baseline
    assert probe(a1.ns, "tcp", UPLINK, "7777") == 0, "baseline: the host's LAN service"
    assert probe(a1.ns, "tcp", gateway, "7777") == 0

    lab.guard()
    assert probe(a1.ns, "tcp", UPLINK, "7777") == 1
    assert probe(a1.ns, "tcp", gateway, "7777") == 1
    assert probe(lab.host, "tcp", a1.ip, "7778") == 0, "host to guest (ssh) still works"
    assert reaches(a1.ns, gateway), "ping of the gateway is allowed"
    assert reaches(a1.ns, OUTSIDE), "the outside world through NAT"
    assert not reaches(a1.ns, METADATA)

    remove_nat(CFG, netns=lab.host)  # forwarding stays on: without the rule, metadata answers
    assert reaches(a1.ns, METADATA)


def test_nothing_routed_from_elsewhere_opens_a_connection_to_a_guest(lab: Lab) -> None:
    """A LAN peer with a route to the VM subnet through the host reaches no guest service,
    while the guest's own connections out (and their replies) still work."""
    a1 = lab.guests["a1"]
    lab.listen(a1.ns, 7779)
    lab.listen(lab.outside, 7780)
    ip(lab.outside, "route", "add", str(CFG.subnet), "via", UPLINK)
    proc.run(["ip", "netns", "exec", lab.host, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    assert probe(lab.outside, "tcp", a1.ip, "7779") == 0, "baseline: the rule is what stops it"
    lab.guard()
    assert probe(lab.outside, "tcp", a1.ip, "7779") == 1
    assert probe(a1.ns, "tcp", OUTSIDE, "7780") == 0, "the guest still reaches out"
    assert probe(lab.host, "tcp", a1.ip, "7779") == 0, "and the host still reaches it"


def test_forged_source_never_leaves_un_natted(lab: Lab) -> None:
    """The layer-3 line on its own: a1's port left unguarded, its forged source still stops."""
    a1 = lab.guests["a1"]
    _nft(lab.outside, (
        "table ip seen {\n chain pre {\n  type filter hook prerouting priority 0;\n"
        '  udp dport 9 counter comment "any"\n }\n}\n'
    ))  # fmt: skip
    ip(a1.ns, "addr", "add", "203.0.113.66/32", "dev", "eth0")
    ip(lab.outside, "route", "add", "203.0.113.66/32", "via", UPLINK)
    lab.guard()
    unguard_port(CFG, a1.tap, netns=lab.host)
    assert probe(a1.ns, "udp", "203.0.113.66", OUTSIDE, "9") == 0
    assert probe(a1.ns, "udp", a1.ip, OUTSIDE, "9") == 0  # control: the honest one arrives
    assert _counters(lab.outside, "ip", "seen") == {"any": 1}
    remove_nat(CFG, netns=lab.host)
    assert probe(a1.ns, "udp", "203.0.113.66", OUTSIDE, "9") == 0
    assert _counters(lab.outside, "ip", "seen") == {"any": 2}, "baseline: it leaves raw"


def _chain_rules(table: list[dict], chain: str) -> int:  # type: ignore[type-arg]
    return sum(1 for i in table if "rule" in i and i["rule"]["chain"] == chain)


def test_guard_is_idempotent_and_leaves_nothing(lab: Lab) -> None:
    a1, a2 = lab.guests["a1"], lab.guests["a2"]
    lab.guard()
    lab.guard()  # again, elements present: nothing duplicated, nothing lost
    table = nft_table(lab.host, "bridge", CFG.nft_table)
    assert table is not None
    assert [_chain_rules(table, c) for c in ("prerouting", "forward", "output")] == [4, 5, 1]
    assert guarded_taps(CFG, netns=lab.host) == sorted(g.tap for g in lab.guests.values())
    assert guard_ruleset(CFG) == guard_ruleset(CFG)
    assert reaches(a1.ns, a2.ip)

    assert unguard_port(CFG, a1.tap, netns=lab.host) is True
    assert unguard_port(CFG, a1.tap, netns=lab.host) is False
    assert a1.tap not in guarded_taps(CFG, netns=lab.host)
    remove_guard(CFG, netns=lab.host)
    remove_guard(CFG, netns=lab.host)
    remove_nat(CFG, netns=lab.host)
    assert nft_table(lab.host, "bridge", CFG.nft_table) is None
    assert nft_table(lab.host, "ip", CFG.nft_table) is None
    assert guarded_taps(CFG, netns=lab.host) == []
    ensure_nat(CFG, netns=lab.host)  # and back: a fresh table
    ensure_guard(CFG, netns=lab.host)
    assert guarded_taps(CFG, netns=lab.host) == []
