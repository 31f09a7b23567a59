from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from banger.network import NetworkConfig, host_dns_servers, nat_ruleset, parse_nameservers
from banger.network._host import in_netns


def test_parse_skips_loopback_ipv6_comments_and_duplicates() -> None:
    text = """
# generated
nameserver 127.0.0.53
nameserver 10.0.0.2   # office
nameserver ::1
nameserver fe80::1%eth0
nameserver 2001:db8::53
; nameserver 10.9.9.9
nameserver 10.0.0.2
nameserver 192.168.1.1
search example.org
nameserver not-an-address
"""
    assert parse_nameservers(text) == [IPv4Address("10.0.0.2"), IPv4Address("192.168.1.1")]


def test_stub_only_resolv_conf_falls_back_to_resolved_upstream(tmp_path: Path) -> None:
    stub = tmp_path / "resolv.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("nameserver 172.16.0.1\n")
    assert host_dns_servers(stub, fallback_files=(upstream,)) == [IPv4Address("172.16.0.1")]


def test_no_usable_server_gives_empty_list(tmp_path: Path) -> None:
    stub = tmp_path / "resolv.conf"
    stub.write_text("nameserver 127.0.0.1\n")
    assert host_dns_servers(stub, fallback_files=(tmp_path / "missing",)) == []


def test_ruleset_replaces_only_its_own_table() -> None:
    cfg = NetworkConfig(bridge="vmbr", subnet=IPv4Network("10.5.0.0/16"), nft_table="bngr")
    script = nat_ruleset(cfg)
    lines = script.splitlines()
    # add-then-delete-then-define in one transaction: idempotent and atomic
    assert lines[:3] == ["table ip bngr {}", "delete table ip bngr", "table ip bngr {"]
    assert 'ip saddr 10.5.0.0/16 oifname != "vmbr" masquerade' in script
    assert 'iifname "vmbr" accept' not in script, "no blanket accept of whatever guests send"
    tables = {
        line.removeprefix("delete ").split()[2]
        for line in lines
        if line.startswith(("table", "delete table"))
    }
    assert tables == {"bngr"}
    assert "flush ruleset" not in script


def _chain(script: str, name: str) -> list[str]:
    """The rule lines of one chain of a ruleset, in order (without its type line)."""
    lines = script.splitlines()
    start = lines.index(f"  chain {name} {{")
    end = lines.index("  }", start)
    return [line.strip() for line in lines[start + 2 : end]]


def test_guests_reach_the_host_only_by_reply_and_gateway_ping() -> None:
    cfg = NetworkConfig(bridge="vmbr", subnet=IPv4Network("10.5.0.0/16"))
    assert _chain(nat_ruleset(cfg), "input") == [
        'iifname "vmbr" ip daddr 169.254.0.0/16 drop',
        'iifname "vmbr" ct state established,related accept',
        'iifname "vmbr" ip daddr 10.5.0.1 icmp type echo-request accept',
        'iifname "vmbr" drop',
    ]


def test_forwarding_needs_a_subnet_source_and_never_reaches_link_local() -> None:
    cfg = NetworkConfig(bridge="vmbr", subnet=IPv4Network("10.5.0.0/16"))
    forward = _chain(nat_ruleset(cfg), "forward")
    assert forward == [
        'iifname "vmbr" ip daddr 169.254.0.0/16 drop',  # before any accept: metadata first
        'iifname "vmbr" ip saddr 10.5.0.0/16 accept',
        'iifname "vmbr" drop',  # a forged source (203.0.113.66) never leaves, NATed or not
        'oifname "vmbr" ct state established,related accept',
        'oifname "vmbr" drop',  # nothing routed from elsewhere opens a connection to a guest
    ]
    # Every drop is scoped to the bridge: banger never drops anyone else's traffic.
    assert all('"vmbr"' in rule for rule in forward if "drop" in rule)


def test_ruleset_is_a_pure_function_of_the_config() -> None:
    cfg = NetworkConfig(bridge="vmbr")
    assert nat_ruleset(cfg) == nat_ruleset(NetworkConfig(bridge="vmbr"))
    assert nat_ruleset(cfg) != nat_ruleset(NetworkConfig(bridge="vmbr2"))


def test_ruleset_pins_outbound_interface_when_configured() -> None:
    cfg = NetworkConfig(bridge="vmbr", outbound_interface="eth1")
    script = nat_ruleset(cfg)
    assert 'ip saddr 10.77.0.0/24 oifname "eth1" masquerade' in script
    assert 'oifname != "vmbr"' not in script


def test_netns_prefix() -> None:
    assert in_netns(["nft", "-f", "-"], None) == ["nft", "-f", "-"]
    assert in_netns(["nft", "-f", "-"], "ns1") == ["ip", "netns", "exec", "ns1", "nft", "-f", "-"]
