"""banger's own nftables table: NAT for the VM subnet, and what guests may reach at layer 3.

Guests (traffic arriving from the bridge) may reach: the outside world through NAT, with a
source inside the subnet (a forged source such as 203.0.113.66 is dropped, never NATed);
from the host itself only replies to connections the host opened (ssh into a guest) and
ping of the gateway. banger serves nothing else on the bridge (it runs no DNS forwarder:
guests use the host's upstream resolvers through NAT, network/dns.py), so every other
packet to a host address, the LAN address included, is dropped. Link-local 169.254.0.0/16
(cloud metadata at 169.254.169.254) is dropped, routed or local. Nothing routed from
elsewhere (a LAN host with a route to the subnet, a container) opens a connection to a
guest: guests are reached from this host (ssh) and from each other only. Guest-to-guest traffic
is guard.py's, at the bridge: where br_netfilter is loaded (docker loads it), frames bridged
between two taps also cross this forward chain with iifname = oifname = the bridge, so this
table cannot tell them from a detour routed through the host, and must let both pass.

The table is replaced in one `nft -f -` transaction ("add table; delete table; define
table"), so ensure_nat is idempotent without a window in which the rules are missing and
without ever touching another table. nft 1.0.6 has no `destroy`, so removal uses the same
add-then-delete pair, which succeeds whether or not the table exists.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network

from banger.network._host import run
from banger.network.config import NetworkConfig

IP_FORWARD = "net.ipv4.ip_forward"
# Never routed (RFC 3927); holds the cloud metadata service at 169.254.169.254.
LINK_LOCAL = IPv4Network("169.254.0.0/16")


def nat_ruleset(cfg: NetworkConfig) -> str:
    """The complete nft script ensure_nat applies (pure; names were validated by the config).

    Chain policies are accept so they can never drop anyone else's traffic; every drop is
    scoped to packets arriving from the bridge. Note that in nftables an accept in our
    chain does not override a drop in another table's forward chain (docker, a firewall):
    such hosts must allow the bridge themselves.
    """
    table, bridge = cfg.nft_table, cfg.bridge
    if cfg.outbound_interface:
        out_match = f'oifname "{cfg.outbound_interface}"'
    else:
        out_match = f'oifname != "{bridge}"'
    subnet, from_vms = IPv4Network(cfg.subnet), f'iifname "{bridge}"'
    return "\n".join(
        [
            f"table ip {table} {{}}",
            f"delete table ip {table}",
            f"table ip {table} {{",
            '  comment "managed by banger: VM subnet NAT, forwarding and host input"',
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            f"    ip saddr {subnet} {out_match} masquerade",
            "  }",
            "  chain input {",
            "    type filter hook input priority filter; policy accept;",
            f"    {from_vms} ip daddr {LINK_LOCAL} drop",
            f"    {from_vms} ct state established,related accept",
            f"    {from_vms} ip daddr {cfg.gateway} icmp type echo-request accept",
            f"    {from_vms} drop",
            "  }",
            "  chain forward {",
            "    type filter hook forward priority filter; policy accept;",
            f"    {from_vms} ip daddr {LINK_LOCAL} drop",
            f"    {from_vms} ip saddr {subnet} accept",
            f"    {from_vms} drop",
            f'    oifname "{bridge}" ct state established,related accept',
            f'    oifname "{bridge}" drop',
            "  }",
            "}",
            "",
        ]
    )


def ensure_nat(cfg: NetworkConfig, *, netns: str | None = None) -> bool:
    """Install (or re-install) banger's nft table and enable IPv4 forwarding.

    Returns whether forwarding was already enabled before, so the caller can log it.
    ip_forward is deliberately never switched back off by remove_nat: it is host-global and
    other software (docker, libvirt, a VPN) may rely on it by then.
    """
    # nft -f -   (the whole table, atomically)
    run(["nft", "-f", "-"], netns, input=nat_ruleset(cfg))
    was_enabled = read_ip_forward(netns=netns)
    if not was_enabled:
        # sysctl -w net.ipv4.ip_forward=1
        run(["sysctl", "-q", "-w", f"{IP_FORWARD}=1"], netns)
    return was_enabled


def remove_nat(cfg: NetworkConfig, *, netns: str | None = None) -> None:
    """Delete banger's nft table; a table already gone is success. Other tables are untouched."""
    # nft 'table ip T {}; delete table ip T'  (creating first makes the delete always valid)
    script = f"table ip {cfg.nft_table} {{}}\ndelete table ip {cfg.nft_table}\n"
    run(["nft", "-f", "-"], netns, input=script)


def nat_table_exists(cfg: NetworkConfig, *, netns: str | None = None) -> bool:
    """Whether banger's table is present (nft -j list tables ip)."""
    listed = run(["nft", "-j", "list", "tables", "ip"], netns)
    items = json.loads(listed.stdout or "{}").get("nftables", [])
    return any(item.get("table", {}).get("name") == cfg.nft_table for item in items)


def read_ip_forward(*, netns: str | None = None) -> bool:
    """Whether IPv4 forwarding is on (sysctl -n net.ipv4.ip_forward).

    Read through sysctl rather than /proc so that `netns` is honoured: /proc/sys/net shows
    the namespace of the reading process.
    """
    shown = run(["sysctl", "-n", IP_FORWARD], netns)
    return shown.stdout.strip() == "1"
