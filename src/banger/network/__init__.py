"""banger.network: the host side of VM networking.

One bridge carrying the gateway address, one tap per VM enslaved to it, one `ip` nftables
table of banger's own doing NAT and host input filtering, one `bridge` table guarding each
tap (anti-spoofing, owner isolation: guard.py), and pure IP/MAC choices. Every privileged
call measures first, so re-running converges, and takes `netns` so tests can run it inside
a namespace.
"""

from banger.network.allocate import allocate_ip, mac_for
from banger.network.bridge import ensure_bridge, remove_bridge
from banger.network.config import NetworkConfig, check_interface_name
from banger.network.dns import host_dns_servers, parse_nameservers
from banger.network.guard import (
    GuardedPort,
    ensure_guard,
    guard_port,
    guard_ruleset,
    guarded_taps,
    remove_guard,
    unguard_port,
)
from banger.network.nat import (
    ensure_nat,
    nat_ruleset,
    nat_table_exists,
    read_ip_forward,
    remove_nat,
)
from banger.network.route import default_outbound_interface
from banger.network.tap import TAP_PREFIX, create_tap, delete_tap, list_banger_taps, tap_name

__all__ = [
    "TAP_PREFIX",
    "GuardedPort",
    "NetworkConfig",
    "allocate_ip",
    "check_interface_name",
    "create_tap",
    "default_outbound_interface",
    "delete_tap",
    "ensure_bridge",
    "ensure_guard",
    "ensure_nat",
    "guard_port",
    "guard_ruleset",
    "guarded_taps",
    "host_dns_servers",
    "list_banger_taps",
    "mac_for",
    "nat_ruleset",
    "nat_table_exists",
    "parse_nameservers",
    "read_ip_forward",
    "remove_bridge",
    "remove_guard",
    "remove_nat",
    "tap_name",
    "unguard_port",
]
