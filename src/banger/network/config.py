"""The settings of banger's host network: one bridge, one IPv4 subnet, one nft table."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

from pydantic import BaseModel, ConfigDict, field_validator

from banger.errors import InvalidArgument

# Linux IFNAMSIZ is 16 including the trailing NUL, so names hold at most 15 characters.
IFNAME_MAX = 15
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# nft identifiers: a letter, then letters/digits/underscores (we stay stricter than nft).
_NFT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
# The smallest subnet: network, gateway, one VM and broadcast addresses.
MAX_PREFIXLEN = 30


def check_interface_name(name: str, *, what: str = "interface") -> str:
    """Return `name` if Linux accepts it as an interface name, else raise InvalidArgument.

    Besides the kernel's limits we refuse anything outside [A-Za-z0-9_.-] so a name can be
    quoted into an nft ruleset and a command line without any escaping.
    """
    if not name or len(name) > IFNAME_MAX or not _IFNAME_RE.fullmatch(name) or name in (".", ".."):
        raise InvalidArgument(
            f"invalid {what} name {name!r}: it must be 1-{IFNAME_MAX} characters of "
            "letters, digits, '_', '.' or '-'",
            hint=f"pick a shorter {what} name such as 'banger0'",
        )
    return name


def check_nft_table_name(name: str) -> str:
    """Return `name` if it is a table name banger uses in nft rulesets, else raise."""
    if not _NFT_NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid nft table name {name!r}: it must start with a letter and hold "
            "at most 32 letters, digits or '_'",
            hint="use the default table name 'banger'",
        )
    return name


def check_subnet(subnet: IPv4Network) -> IPv4Network:
    """Return `subnet` if it holds a gateway and at least one VM, else raise."""
    # /31 and /32 leave no room for a gateway plus a VM.
    if subnet.prefixlen > MAX_PREFIXLEN:
        raise InvalidArgument(
            f"subnet {subnet} is too small for a gateway and VMs",
            hint=f"use a /{MAX_PREFIXLEN} or larger private subnet such as 10.77.0.0/24",
        )
    return subnet


class NetworkConfig(BaseModel):
    """Where VMs live on the host network.

    `outbound_interface` None means "masquerade traffic leaving through any interface
    except the bridge", which keeps working when the host's default route moves (wifi to
    ethernet, VPN up); set it to restrict NAT to one uplink.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bridge: str = "banger0"
    subnet: IPv4Network = IPv4Network("10.77.0.0/24")
    nft_table: str = "banger"
    outbound_interface: str | None = None

    @field_validator("bridge")
    @classmethod
    def _bridge_name(cls, value: str) -> str:
        # Raised as a banger error (not ValueError) so a bad name is one clear line, not a
        # pydantic validation report.
        return check_interface_name(value, what="bridge")

    @field_validator("outbound_interface")
    @classmethod
    def _outbound_name(cls, value: str | None) -> str | None:
        return None if value is None else check_interface_name(value, what="outbound interface")

    @field_validator("nft_table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        return check_nft_table_name(value)

    @field_validator("subnet")
    @classmethod
    def _subnet_size(cls, value: IPv4Network) -> IPv4Network:
        return check_subnet(value)

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's own address: the subnet's first host."""
        return self.subnet.network_address + 1

    @property
    def gateway_cidr(self) -> str:
        """The bridge address in `ip addr` form, e.g. 10.77.0.1/24."""
        return f"{self.gateway}/{self.subnet.prefixlen}"
