"""The port guard: each VM's tap speaks only as that VM, and only to its owner's VMs.

Design (nftables `bridge` family table, named like the NAT table; nat.py guards layer 3):

- Which taps: those in the set `taps`. Both chains accept anything else at once, so a
  second banger daemon (tests run several, each with its own bridge and table) or another
  bridge on the host is never judged by this table. (`meta ibrname`, which would scope by
  bridge, needs nft_meta_bridge, which hosts such as this one lack.) A tap is added to the
  set before its VMM starts and removed after the VMM is gone, so no frame of a VM passes
  unjudged.
- Anti-spoofing, hook bridge prerouting. A frame entering the bridge from a guarded tap is
  accepted only if `iifname . ether saddr . ip saddr` is in the set `ports` (IPv4), or, for
  ARP, if both `iifname . ether saddr . arp saddr ip` and
  `iifname . arp saddr ether . arp saddr ip` are. Everything else from the tap is dropped:
  other sources, IPv6 (the VM network is IPv4 only, and link-local IPv6 would reach the host
  and other guests around every IPv4 rule), VLAN tags, other ethertypes. Guests get their
  address statically (/banger/init runs `ip addr add`, docs/guest.md), so no DHCP from
  0.0.0.0 has to pass.
- Owner isolation, hook bridge forward (frames bridged from one port to another). The map
  `port_owner` gives each tap its owner's tag (uid + 1) and the set `owner_ports` holds
  `tag . tap` for every tap. The rule puts the input tap's tag in the packet mark and
  accepts only if `mark . oifname` is in `owner_ports`, i.e. the output tap has the same
  owner; then it resets the mark to 0 so nothing after the bridge sees it. nft cannot
  compare two lookups directly; the mark is the scratch register, so banger owns the mark
  of frames bridged between its taps (it is zeroed first: a mark some br_netfilter mangle
  rule set must not pass for a tag). A tap without an owner (image builders:
  `owner=None`) gets no tag, its mark stays 0, which no tap has, so it reaches no other VM.
  Tags start at 1 for that reason.
  Bridge port isolation (`isolated on`) was not chosen: it cuts every port from every
  other, so same-owner traffic would need proxy ARP and routing through the host.
- No detour through the host, hook bridge output (frames the host sends into a tap): a
  guest that routes another guest's address via the gateway has the host forward its
  packets back onto the bridge. Such a frame carries a VM's source address, which nothing
  the host legitimately sends to a guest does (its own are the gateway's; NATed replies
  carry outside addresses), so a frame into a tap from a subnet address other than the
  gateway is dropped. (The `ip` table cannot do it: with br_netfilter, bridged frames cross
  its forward chain looking exactly like such a detour.)
- Traffic to the host itself and beyond (input and forward of the IP stack) is nat.py's.

Per-VM state lives only in set elements, never in rules: `ensure_guard` re-declares the
table and rewrites its chains in one transaction without touching the elements, so
re-applying it while VMs run keeps them guarded; `guard_port`/`unguard_port` measure the
tap's current elements and replace them in one transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from banger.errors import InvalidArgument
from banger.network._host import run
from banger.network.config import NetworkConfig, check_interface_name

TAPS = "taps"  # set: the taps this table judges
PORTS = "ports"  # set: tap . mac . ip
PORT_OWNER = "port_owner"  # map: tap -> owner tag
OWNER_PORTS = "owner_ports"  # set: owner tag . tap
MAX_UID = 2**32 - 2  # (uid_t)-1 is "no uid"; uid + 1 must fit the 32-bit mark
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True)
class GuardedPort:
    """One VM's tap as the guard sees it: who may speak through it, and to whom."""

    tap: str
    mac: str
    ip: IPv4Address
    owner: int | None  # the owner's uid; None = a loner that reaches no other VM


def owner_tag(uid: int) -> int:
    """The mark value for an owner: uid + 1, so 0 (an untagged frame) matches no owner."""
    if not 0 <= uid <= MAX_UID:
        raise InvalidArgument(f"uid {uid} is out of range", hint="owners are Unix uids")
    return uid + 1


def _mac(value: str) -> str:
    """`value` lower-cased (as nft prints it) if it is a MAC address, else InvalidArgument."""
    if not _MAC_RE.match(value):
        raise InvalidArgument(f"invalid MAC address {value!r}", hint="use 02:xx:xx:xx:xx:xx")
    return value.lower()


def guard_ruleset(cfg: NetworkConfig) -> str:
    """The nft script ensure_guard applies (pure): declare, flush the chains, fill them.

    `add`-style declarations keep existing set elements; flushing then refilling every
    chain in the same transaction means a re-apply never duplicates a rule and there is
    no moment without them.
    """
    t, taps = f"bridge {cfg.nft_table}", f"@{TAPS}"
    return "\n".join(
        [
            f"table {t} {{",
            '  comment "managed by banger: per-VM anti-spoofing and owner isolation"',
            f"  set {TAPS} {{ type ifname; }}",
            f"  set {PORTS} {{ type ifname . ether_addr . ipv4_addr; }}",
            f"  map {PORT_OWNER} {{ type ifname : mark; }}",
            f"  set {OWNER_PORTS} {{ type mark . ifname; }}",
            "  chain prerouting { type filter hook prerouting priority filter; policy accept; }",
            "  chain forward { type filter hook forward priority filter; policy accept; }",
            "  chain output { type filter hook output priority filter; policy accept; }",
            "}",
            f"flush chain {t} prerouting",
            f"flush chain {t} forward",
            f"flush chain {t} output",
            f"table {t} {{",
            "  chain prerouting {",
            f"    iifname != {taps} accept",
            f"    iifname . ether saddr . ip saddr @{PORTS} accept",
            "    arp htype 1 arp ptype ip arp hlen 6 arp plen 4"
            f" iifname . ether saddr . arp saddr ip @{PORTS}"
            f" iifname . arp saddr ether . arp saddr ip @{PORTS} accept",
            "    drop",
            "  }",
            "  chain forward {",
            f"    iifname != {taps} accept",
            "    meta mark set 0",  # whatever br_netfilter's mangle rules set, untagged = 0
            f"    meta mark set iifname map @{PORT_OWNER}",
            f"    meta mark . oifname @{OWNER_PORTS} meta mark set 0 accept",
            "    drop",
            "  }",
            "  chain output {",
            f"    oifname {taps} ip saddr {cfg.subnet} ip saddr != {cfg.gateway} drop",
            "  }",
            "}",
            "",
        ]
    )


def ensure_guard(cfg: NetworkConfig, *, netns: str | None = None) -> None:
    """Install (or re-install) the guard table; elements of running VMs are kept."""
    # nft -f -   (declare + flush + refill, one transaction)
    run(["nft", "-f", "-"], netns, input=guard_ruleset(cfg))


def remove_guard(cfg: NetworkConfig, *, netns: str | None = None) -> None:
    """Delete the guard table, elements and all; a table already gone is success."""
    script = f"table bridge {cfg.nft_table} {{}}\ndelete table bridge {cfg.nft_table}\n"
    run(["nft", "-f", "-"], netns, input=script)


# -- elements --------------------------------------------------------------------------------
def port_elements(port: GuardedPort) -> dict[str, list[str]]:
    """The element texts (nft syntax) one port owns, per set (pure)."""
    tap = check_interface_name(port.tap, what="tap")
    elements: dict[str, list[str]] = {
        TAPS: [f'"{tap}"'],
        PORTS: [f'"{tap}" . {_mac(port.mac)} . {port.ip}'],
        PORT_OWNER: [],
        OWNER_PORTS: [],
    }
    if port.owner is not None:
        tag = owner_tag(port.owner)
        elements[PORT_OWNER].append(f'"{tap}" : {tag}')
        elements[OWNER_PORTS].append(f'{tag} . "{tap}"')
    return elements


def element_script(
    cfg: NetworkConfig, present: dict[str, list[str]], wanted: dict[str, list[str]]
) -> str:
    """One transaction turning `present` into `wanted` (pure; empty when they agree).

    A present element is removed as `add X; delete X`, which is valid even if X vanished
    meanwhile; a map element changing its value must be deleted before it is re-added.
    """
    t = f"bridge {cfg.nft_table}"
    lines: list[str] = []
    for name in (TAPS, PORTS, PORT_OWNER, OWNER_PORTS):
        have, want = present.get(name, []), wanted.get(name, [])
        for element in have:
            if element not in want:
                lines += [f"add element {t} {name} {{ {element} }}"]
                key = element.split(" : ")[0]  # a map element is deleted by its key
                lines += [f"delete element {t} {name} {{ {key} }}"]
        lines += [f"add element {t} {name} {{ {e} }}" for e in want if e not in have]
    return "\n".join([*lines, ""]) if lines else ""


def _list_table(cfg: NetworkConfig, netns: str | None) -> list[dict[str, Any]] | None:
    listed = run(["nft", "-j", "list", "tables", "bridge"], netns)
    names = [
        i["table"]["name"]
        for i in json.loads(listed.stdout or "{}").get("nftables", [])
        if "table" in i
    ]
    if cfg.nft_table not in names:
        return None
    shown = run(["nft", "-j", "list", "table", "bridge", cfg.nft_table], netns)
    return list(json.loads(shown.stdout or "{}").get("nftables", []))


def _element_text(name: str, value: Any) -> tuple[str, str]:
    """(tap, nft text) of one element as `nft -j` shows it."""
    if isinstance(value, dict) and "elem" in value:  # elements with flags are wrapped
        value = value["elem"]["val"]
    if name == TAPS:
        return str(value), f'"{value}"'
    if name == PORT_OWNER:
        tap, tag = value
        return str(tap), f'"{tap}" : {int(tag)}'
    parts = value["concat"]
    if name == PORTS:
        tap, mac, ip = parts
        return str(tap), f'"{tap}" . {mac} . {ip}'
    tag, tap = parts
    return str(tap), f'{int(tag)} . "{tap}"'


def present_elements(
    cfg: NetworkConfig, *, netns: str | None = None
) -> dict[str, dict[str, list[str]]]:
    """tap -> set name -> element texts, as the kernel has them now ({} without a table)."""
    table = _list_table(cfg, netns)
    found: dict[str, dict[str, list[str]]] = {}
    for item in table or []:
        declared = item.get("set") or item.get("map")
        if not declared or declared["name"] not in (TAPS, PORTS, PORT_OWNER, OWNER_PORTS):
            continue
        for value in declared.get("elem", []):
            tap, text = _element_text(declared["name"], value)
            found.setdefault(tap, {}).setdefault(declared["name"], []).append(text)
    return found


def guard_port(cfg: NetworkConfig, port: GuardedPort, *, netns: str | None = None) -> None:
    """Let `port.tap` speak as exactly this MAC and IP, to its owner's VMs only.

    Stale elements of the same tap (an older address after a restart) are replaced in the
    same transaction. The table must exist (ensure_guard).
    """
    wanted = port_elements(port)
    present = present_elements(cfg, netns=netns).get(port.tap, {})
    script = element_script(cfg, present, wanted)
    if script:
        run(["nft", "-f", "-"], netns, input=script)


def unguard_port(cfg: NetworkConfig, tap: str, *, netns: str | None = None) -> bool:
    """Forget `tap`'s elements (call it once its VMM is gone); True if there were any."""
    check_interface_name(tap, what="tap")
    present = present_elements(cfg, netns=netns).get(tap, {})
    script = element_script(cfg, present, {})
    if script:
        run(["nft", "-f", "-"], netns, input=script)
    return bool(script)


def guarded_taps(cfg: NetworkConfig, *, netns: str | None = None) -> list[str]:
    """Taps that have elements in the guard, sorted; for pruning leaks at daemon start."""
    return sorted(present_elements(cfg, netns=netns))
