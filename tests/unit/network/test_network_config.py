from ipaddress import IPv4Address, IPv4Network

import pytest

from banger.errors import InvalidArgument
from banger.network import NetworkConfig, check_interface_name


def test_defaults_derive_gateway_from_subnet() -> None:
    cfg = NetworkConfig(bridge="br-vm", subnet=IPv4Network("192.168.50.0/24"))
    assert cfg.gateway == IPv4Address("192.168.50.1")
    assert cfg.gateway_cidr == "192.168.50.1/24"
    assert cfg.nft_table == "banger"
    assert cfg.outbound_interface is None


def test_subnet_accepts_strings_as_config_files_give_them() -> None:
    cfg = NetworkConfig.model_validate({"bridge": "b0", "subnet": "10.9.0.0/16"})
    assert cfg.gateway == IPv4Address("10.9.0.1")


@pytest.mark.parametrize(
    "name", ["", "a" * 16, "has space", "slash/name", "semi;colon", 'quo"te', "..", "ünï"]
)
def test_invalid_bridge_name_is_one_clear_error(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        NetworkConfig(bridge=name)
    err = caught.value
    assert "bridge" in err.message and repr(name) in err.message
    assert "\n" not in err.one_line()
    assert err.hint


@pytest.mark.parametrize("name", ["a", "a" * 15, "br-vm.0_x"])
def test_valid_interface_names_pass(name: str) -> None:
    assert check_interface_name(name) == name


def test_too_small_subnet_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="too small"):
        NetworkConfig(subnet=IPv4Network("10.0.0.0/31"))


@pytest.mark.parametrize("table", ["1abc", "with-dash", "x" * 33, ""])
def test_invalid_nft_table_name_is_refused(table: str) -> None:
    with pytest.raises(InvalidArgument, match="nft table"):
        NetworkConfig(nft_table=table)


def test_outbound_interface_is_validated() -> None:
    with pytest.raises(InvalidArgument, match="outbound interface"):
        NetworkConfig(outbound_interface="eth0 oops")
