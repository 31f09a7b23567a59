"""banger's own nftables table: masquerade the VM subnet on the way out, allow forwarding.

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


def nat_ruleset(cfg: NetworkConfig) -> str:
    """The complete nft script ensure_nat applies (pure; names were validated by the config).

    The forward chain's policy is accept so it can never drop anyone else's traffic. Note
    that in nftables an accept in our chain does not override a drop in another table's
    forward chain (docker, a firewall): such hosts must allow the bridge themselves.
    """
    table, bridge = cfg.nft_table, cfg.bridge
    if cfg.outbound_interface:
        out_match = f'oifname "{cfg.outbound_interface}"'
    else:
        out_match = f'oifname != "{bridge}"'
    subnet = IPv4Network(cfg.subnet)
    return "\n".join(
        [
            f"table ip {table} {{}}",
            f"delete table ip {table}",
            f"table ip {table} {{",
            '  comment "managed by banger: VM subnet NAT and forwarding"',
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            f"    ip saddr {subnet} {out_match} masquerade",
            "  }",
            "  chain forward {",
            "    type filter hook forward priority filter; policy accept;",
            f'    iifname "{bridge}" accept',
            f'    oifname "{bridge}" ct state established,related accept',
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
