"""Pure choices of a VM's MAC and IPv4 address; storing the lease is the caller's job."""

from __future__ import annotations

import hashlib
from collections.abc import Set
from ipaddress import IPv4Address, IPv4Network

from banger.errors import Conflict, InvalidArgument


def mac_for(vm_id: str) -> str:
    """A stable MAC for the VM: 02:xx:xx:xx:xx:xx from sha256(vm_id).

    First octet 0x02 = locally administered (bit 1 set) and unicast (bit 0 clear), so it
    can never clash with a vendor-assigned address. 40 hashed bits make a collision among
    one bridge's VMs negligible.
    """
    if not vm_id:
        raise InvalidArgument("a VM id is needed to derive its MAC", hint="pass the VM's id")
    digest = hashlib.sha256(b"banger-mac:" + vm_id.encode()).digest()
    return ":".join(f"{octet:02x}" for octet in (0x02, *digest[:5]))


def allocate_ip(
    subnet: IPv4Network,
    used: Set[IPv4Address],
    *,
    gateway: IPv4Address | None = None,
) -> IPv4Address:
    """The lowest free host address of `subnet`.

    Skips the network and broadcast addresses, the gateway (default: the first host) and
    everything in `used`. Raises Conflict when nothing is left.

    Concurrency: this only chooses. The caller inserts the lease into a table with
    UNIQUE(address); two creates racing may both choose the same address, and the loser's
    INSERT fails with sqlite3.IntegrityError. The loser then re-reads the used set and calls
    allocate_ip again (in a loop bounded by the subnet size), so no address is handed out
    twice and no lock is needed.
    """
    if gateway is None:
        gateway = subnet.network_address + 1
    for address in subnet.hosts():  # hosts() already excludes network and broadcast
        if address != gateway and address not in used:
            return address
    raise Conflict(
        f"subnet {subnet} is full: no free address for another VM",
        hint="delete unused VMs, or configure a larger subnet (e.g. a /16) for the bridge",
    )
