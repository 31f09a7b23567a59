"""A throwaway network lab: a 'host' namespace with banger's bridge, three 'VMs' (owner A
twice, owner B once), each a namespace behind a veth standing in for its tap, and an
'outside' namespace behind an uplink that also holds 169.254.169.254. Every namespace is
deleted on the way out, which takes every veth, bridge and nft table with it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from banger import proc
from banger.network import (
    GuardedPort,
    NetworkConfig,
    ensure_bridge,
    ensure_guard,
    ensure_nat,
    guard_port,
    mac_for,
    tap_name,
)

from .conftest import delete_netns, new_netns

CFG = NetworkConfig(bridge="bggrd0", subnet=IPv4Network("10.213.9.0/24"), nft_table="bgguard")
UPLINK, OUTSIDE = "198.18.0.1", "198.18.0.2"  # the host's "LAN" address and a peer beyond
METADATA = "169.254.169.254"
PROBE = Path(__file__).with_name("netprobe.py")
OWNER_A, OWNER_B = 1000, 2000


@dataclass(frozen=True)
class Guest:
    name: str
    ns: str
    tap: str
    mac: str
    ip: str
    owner: int | None

    @property
    def port(self) -> GuardedPort:
        return GuardedPort(self.tap, self.mac, IPv4Address(self.ip), self.owner)


@dataclass
class Lab:
    host: str
    outside: str
    guests: dict[str, Guest] = field(default_factory=dict)
    listeners: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def guard(self) -> None:
        """What the boot plan does for each VM: host rules, guard table, one port each."""
        ensure_nat(CFG, netns=self.host)
        ensure_guard(CFG, netns=self.host)
        for guest in self.guests.values():
            guard_port(CFG, guest.port, netns=self.host)

    def listen(self, ns: str, port: int) -> None:
        """A TCP service on every address of `ns`, killed when the lab closes."""
        argv = ["ip", "netns", "exec", ns, sys.executable, str(PROBE), "listen", "0.0.0.0"]
        listener = subprocess.Popen([*argv, str(port)], stdout=subprocess.PIPE)
        self.listeners.append(listener)
        assert listener.stdout is not None and listener.stdout.readline() == b"listening\n"


def ip(ns: str, *args: str) -> None:
    proc.run(["ip", "-n", ns, *args])


def probe(ns: str, *args: str) -> int:
    """Run netprobe.py inside `ns`; its exit status."""
    argv = ["ip", "netns", "exec", ns, sys.executable, str(PROBE), *args]
    return proc.run(argv, check=False, timeout=20).returncode


def reaches(ns: str, address: str, *, source: str | None = None) -> bool:
    """One ping (busybox) from `ns`; whether a reply came back within 2 s."""
    argv = ["ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "2"]
    if source:
        argv += ["-I", source]
    return proc.run([*argv, address], check=False, timeout=20).returncode == 0


def _add_guest(lab: Lab, name: str, owner: int | None, octet: int, namespaces: list[str]) -> None:
    ns = new_netns()
    namespaces.append(ns)
    guest = Guest(name, ns, tap_name(f"guard-{name}"), mac_for(f"guard-{name}"),
                  str(CFG.subnet.network_address + octet), owner)  # fmt: skip
    ip(lab.host, "link", "add", guest.tap, "type", "veth", "peer", "name", "eth0", "netns", ns)
    ip(lab.host, "link", "set", guest.tap, "master", CFG.bridge, "up")
    ip(ns, "link", "set", "eth0", "address", guest.mac)
    ip(ns, "addr", "add", f"{guest.ip}/{CFG.subnet.prefixlen}", "dev", "eth0")
    ip(ns, "link", "set", "eth0", "up")
    ip(ns, "link", "set", "lo", "up")
    ip(ns, "route", "add", "default", "via", str(CFG.gateway))
    lab.guests[name] = guest


@contextmanager
def network_lab() -> Iterator[Lab]:
    namespaces: list[str] = []
    lab: Lab | None = None
    try:
        host, outside = new_netns(), new_netns()
        namespaces += [host, outside]
        lab = Lab(host, outside)
        ensure_bridge(CFG, netns=host)
        for name, owner, octet in (("a1", OWNER_A, 2), ("a2", OWNER_A, 3), ("b1", OWNER_B, 4)):
            _add_guest(lab, name, owner, octet, namespaces)
        ip(host, "link", "add", "uplink", "type", "veth", "peer", "name", "wan", "netns", outside)
        ip(host, "addr", "add", f"{UPLINK}/24", "dev", "uplink")
        ip(host, "link", "set", "uplink", "up")
        ip(host, "route", "add", f"{METADATA}/32", "via", OUTSIDE)
        ip(outside, "addr", "add", f"{OUTSIDE}/24", "dev", "wan")
        ip(outside, "addr", "add", f"{METADATA}/32", "dev", "wan")
        ip(outside, "link", "set", "wan", "up")
        yield lab
    finally:
        for listener in lab.listeners if lab else []:
            listener.kill()
            listener.wait()
        for ns in namespaces:
            delete_netns(ns)
