"""The port guard's pure parts: the ruleset text and the per-port element transactions."""

from ipaddress import IPv4Address, IPv4Network

import pytest

from banger.errors import InvalidArgument
from banger.network import GuardedPort, NetworkConfig, guard_ruleset
from banger.network.guard import element_script, owner_tag, port_elements

CFG = NetworkConfig(bridge="vmbr", subnet=IPv4Network("10.5.0.0/16"), nft_table="bngr")
A1 = GuardedPort("bt000000000001", "02:AA:BB:CC:DD:01", IPv4Address("10.5.0.2"), 1000)


def _chain(script: str, name: str) -> list[str]:
    """Rule lines of chain `name` in the filling block (the one after the flushes)."""
    lines = script.splitlines()
    start = lines.index(f"  chain {name} {{", lines.index(f"flush chain bridge bngr {name}"))
    return [line.strip() for line in lines[start + 1 : lines.index("  }", start)]]


def test_ruleset_keeps_elements_and_never_duplicates_rules() -> None:
    script = guard_ruleset(CFG)
    lines = script.splitlines()
    # No delete of the table (that would drop every running VM's elements): declare with
    # add semantics, then flush and refill each chain in the same transaction.
    assert not any(line.startswith("delete") for line in lines)
    flushes = [line for line in lines if line.startswith("flush")]
    assert flushes == [f"flush chain bridge bngr {c}" for c in ("prerouting", "forward", "output")]
    assert lines.index(flushes[-1]) < lines.index("  chain prerouting {", lines.index(flushes[-1]))
    assert "flush ruleset" not in script and "table ip" not in script
    assert guard_ruleset(CFG) == script


def test_prerouting_accepts_only_a_ports_own_mac_and_ip() -> None:
    rules = _chain(guard_ruleset(CFG), "prerouting")
    assert rules[0] == "iifname != @taps accept"  # other daemons' and bridges' frames
    assert rules[1] == "iifname . ether saddr . ip saddr @ports accept"
    assert "iifname . ether saddr . arp saddr ip @ports" in rules[2]
    assert "iifname . arp saddr ether . arp saddr ip @ports" in rules[2]
    assert rules[3] == "drop"  # IPv6, VLAN, forged anything
    assert len(rules) == 4


def test_forward_compares_owners_and_output_stops_the_detour() -> None:
    script = guard_ruleset(CFG)
    assert _chain(script, "forward") == [
        "iifname != @taps accept",
        "meta mark set 0",
        "meta mark set iifname map @port_owner",
        "meta mark . oifname @owner_ports meta mark set 0 accept",
        "drop",
    ]
    assert _chain(script, "output") == [
        "oifname @taps ip saddr 10.5.0.0/16 ip saddr != 10.5.0.1 drop"
    ]


def test_port_elements_carry_mac_ip_and_owner_tag() -> None:
    assert port_elements(A1) == {
        "taps": ['"bt000000000001"'],
        "ports": ['"bt000000000001" . 02:aa:bb:cc:dd:01 . 10.5.0.2'],
        "port_owner": ['"bt000000000001" : 1001'],
        "owner_ports": ['1001 . "bt000000000001"'],
    }
    loner = port_elements(GuardedPort(A1.tap, A1.mac, A1.ip, None))
    assert loner["port_owner"] == [] and loner["owner_ports"] == []


def test_owner_tags_start_at_one_so_root_differs_from_untagged() -> None:
    assert owner_tag(0) == 1 and owner_tag(1000) == 1001
    with pytest.raises(InvalidArgument):
        owner_tag(2**32 - 1)
    with pytest.raises(InvalidArgument):
        owner_tag(-1)


def test_bad_names_and_macs_never_reach_nft() -> None:
    with pytest.raises(InvalidArgument):
        port_elements(GuardedPort('bt"; flush ruleset', A1.mac, A1.ip, 1))
    with pytest.raises(InvalidArgument):
        port_elements(GuardedPort(A1.tap, "02:aa:bb:cc:dd", A1.ip, 1))
    with pytest.raises(InvalidArgument):
        port_elements(GuardedPort(A1.tap, "02:aa:bb:cc:dd:zz", A1.ip, 1))


def test_element_script_is_idempotent() -> None:
    wanted = port_elements(A1)
    first = element_script(CFG, {}, wanted)
    assert first.count("add element bridge bngr") == 4 and "delete" not in first
    assert element_script(CFG, wanted, wanted) == "", "already there: nothing to do"


def test_element_script_replaces_a_stale_address_and_owner() -> None:
    stale = port_elements(GuardedPort(A1.tap, A1.mac, IPv4Address("10.5.0.9"), 7))
    lines = element_script(CFG, stale, port_elements(A1)).splitlines()
    # a delete is preceded by its add, so it is valid even if the element vanished meanwhile
    assert lines[:2] == [
        'add element bridge bngr ports { "bt000000000001" . 02:aa:bb:cc:dd:01 . 10.5.0.9 }',
        'delete element bridge bngr ports { "bt000000000001" . 02:aa:bb:cc:dd:01 . 10.5.0.9 }',
    ]
    assert 'delete element bridge bngr port_owner { "bt000000000001" }' in lines
    assert 'add element bridge bngr port_owner { "bt000000000001" : 1001 }' in lines
    assert lines.index('delete element bridge bngr port_owner { "bt000000000001" }') < lines.index(
        'add element bridge bngr port_owner { "bt000000000001" : 1001 }'
    )
    assert not any("taps" in line for line in lines), "an unchanged element is left alone"


def test_element_script_removes_everything_of_a_port() -> None:
    lines = element_script(CFG, port_elements(A1), {}).splitlines()
    deletes = [line for line in lines if line.startswith("delete")]
    assert len(deletes) == 4 and not any(line.startswith("add") for line in lines[1::2])
