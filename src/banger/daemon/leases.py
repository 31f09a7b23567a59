"""Handing out guest addresses: pick a free one, claim it in the store, retry on a race."""

from __future__ import annotations

from ipaddress import IPv4Address

from banger.errors import FailedPrecondition
from banger.network import NetworkConfig, allocate_ip
from banger.store import Database
from banger.store.leases import LeaseStore


class Leases:
    def __init__(self, db: Database, subnet: str) -> None:
        self.store, self.subnet = LeaseStore(db), subnet

    def acquire(self, owner: str, net: NetworkConfig) -> IPv4Address:
        for _ in range(net.subnet.num_addresses):
            ip = allocate_ip(net.subnet, self.store.taken(self.subnet), gateway=net.gateway)
            if self.store.insert(self.subnet, ip, owner):
                return ip
            # another create took it between our read and insert: pick again
        raise FailedPrecondition("could not allocate an IP address", hint="retry")

    def release(self, owner: str) -> None:
        self.store.release(owner)

    def owners(self, prefix: str) -> list[str]:
        return self.store.owners(prefix)
