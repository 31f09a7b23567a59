import re
from ipaddress import IPv4Address, IPv4Network

import pytest

from banger.errors import Conflict, InvalidArgument
from banger.network import allocate_ip, check_interface_name, mac_for, tap_name
from banger.network.tap import TAP_PREFIX


def test_mac_is_stable_locally_administered_unicast() -> None:
    mac = mac_for("vm-0123")
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac)
    first = int(mac.split(":")[0], 16)
    assert first & 0b10, "locally administered bit must be set"
    assert not first & 0b1, "multicast bit must be clear"
    assert mac_for("vm-0123") == mac


def test_macs_differ_between_ids() -> None:
    macs = {mac_for(f"vm-{i}") for i in range(2000)}
    assert len(macs) == 2000


def test_empty_id_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        mac_for("")
    with pytest.raises(InvalidArgument):
        tap_name("")


def test_tap_names_fit_ifnamsiz_and_are_stable() -> None:
    names = {tap_name(f"{i:032x}") for i in range(2000)}
    assert len(names) == 2000
    for name in list(names)[:50]:
        assert name.startswith(TAP_PREFIX)
        assert len(name) <= 15
        assert check_interface_name(name) == name
    assert tap_name("abc") == tap_name("abc")


def test_ids_sharing_a_prefix_get_different_taps() -> None:
    # Truncating would map both to the same 12 characters; hashing must not.
    assert tap_name("0123456789abcdef-one") != tap_name("0123456789abcdef-two")


def test_allocate_skips_network_gateway_and_used() -> None:
    subnet = IPv4Network("10.77.0.0/24")
    assert allocate_ip(subnet, set()) == IPv4Address("10.77.0.2")
    used = {IPv4Address("10.77.0.2"), IPv4Address("10.77.0.3")}
    assert allocate_ip(subnet, used) == IPv4Address("10.77.0.4")


def test_allocate_respects_a_custom_gateway() -> None:
    subnet = IPv4Network("10.77.0.0/29")
    got = allocate_ip(subnet, set(), gateway=IPv4Address("10.77.0.6"))
    assert got == IPv4Address("10.77.0.1")


def test_allocate_fills_every_host_then_reports_full() -> None:
    subnet = IPv4Network("10.77.0.0/28")  # 14 hosts: gateway + 13 VMs
    used: set[IPv4Address] = set()
    for _ in range(13):
        address = allocate_ip(subnet, used)
        assert address not in used
        assert address not in (subnet.network_address, subnet.broadcast_address)
        assert address != subnet.network_address + 1
        used.add(address)
    with pytest.raises(Conflict, match="full") as caught:
        allocate_ip(subnet, used)
    assert caught.value.hint


def test_allocate_reuses_a_freed_address() -> None:
    subnet = IPv4Network("10.77.0.0/29")
    used = {IPv4Address(f"10.77.0.{i}") for i in range(2, 7)}
    used.remove(IPv4Address("10.77.0.4"))
    assert allocate_ip(subnet, used) == IPv4Address("10.77.0.4")
