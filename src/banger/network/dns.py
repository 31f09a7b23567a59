"""Which DNS servers a VM should use: the host's own upstream resolvers."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address
from pathlib import Path

RESOLV_CONF = Path("/etc/resolv.conf")
# Where systemd-resolved lists the real upstream servers behind its 127.0.0.53 stub.
RESOLVED_UPSTREAM = Path("/run/systemd/resolve/resolv.conf")


def parse_nameservers(text: str) -> list[IPv4Address]:
    """IPv4 `nameserver` entries of a resolv.conf, in order, without duplicates.

    Loopback resolvers (systemd-resolved's 127.0.0.53, a local dnsmasq on 127.0.0.1) are
    skipped: inside a VM, 127.x is the VM itself. IPv6 entries are skipped because the VM
    network is IPv4-only.
    """
    servers: list[IPv4Address] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        try:
            address = ip_address(fields[1].split("%", 1)[0])
        except ValueError:
            continue
        if isinstance(address, IPv4Address) and not address.is_loopback and address not in servers:
            servers.append(address)
    return servers


def host_dns_servers(
    resolv_conf: Path = RESOLV_CONF,
    *,
    fallback_files: Sequence[Path] = (RESOLVED_UPSTREAM,),
) -> list[IPv4Address]:
    """The host's usable upstream DNS servers for VMs; empty when there are none.

    When resolv.conf names only loopback stubs, the `fallback_files` (systemd-resolved's
    upstream list) are read instead. An empty answer is returned rather than a guess: banger
    runs no DNS forwarder on the bridge, so the gateway would not answer, and public
    resolvers may be unreachable (they are on CI). The caller decides what to configure
    (e.g. a user-set DNS list, or none).
    """
    for path in (resolv_conf, *fallback_files):
        try:
            servers = parse_nameservers(path.read_text(errors="replace"))
        except OSError:
            continue
        if servers:
            return servers
    return []
