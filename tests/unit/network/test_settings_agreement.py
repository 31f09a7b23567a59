"""One set of network rules: the daemon's config file accepts a bridge, subnet or nft
table exactly when banger.network's NetworkConfig (what the daemon builds from it) does,
so a config that loads never fails later at daemon start, and the other way round."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest
from pydantic import BaseModel, ValidationError

from banger.config.models import NetworkSettings
from banger.errors import InvalidArgument
from banger.network import NetworkConfig

BRIDGES = ["banger0", "a", "a" * 15, "a" * 16, "br.0-x_y", ".", "..", "", "has space", "br0\n"]
SUBNETS = ["10.0.0.0/24", "10.0.0.0/29", "10.0.0.0/30", "10.0.0.0/31", "10.0.0.0/32"]
TABLES = ["banger", "b" * 32, "b" * 33, "1abc", "_abc", "with-dash", "", "banger\n"]


def _accepts(model: type[BaseModel], refusal: type[Exception], **field: object) -> bool:
    try:
        model.model_validate(field)
    except refusal:
        return False
    return True


def _settings_accept(**field: object) -> bool:
    return _accepts(NetworkSettings, ValidationError, **field)


def _network_accepts(**field: object) -> bool:
    return _accepts(NetworkConfig, InvalidArgument, **field)


@pytest.mark.parametrize("bridge", BRIDGES)
def test_bridge_names(bridge: str) -> None:
    assert _settings_accept(bridge=bridge) == _network_accepts(bridge=bridge)


@pytest.mark.parametrize("subnet", SUBNETS)
def test_subnets(subnet: str) -> None:
    assert _settings_accept(subnet=subnet) == _network_accepts(subnet=IPv4Network(subnet))


@pytest.mark.parametrize("table", TABLES)
def test_nft_table_names(table: str) -> None:
    assert _settings_accept(nft_table=table) == _network_accepts(nft_table=table)


def test_the_rules_that_used_to_differ() -> None:
    # A /30 holds a gateway and one VM; a table name must start with a letter.
    assert _settings_accept(subnet="10.0.0.0/30") and not _settings_accept(subnet="10.0.0.0/31")
    assert not _settings_accept(nft_table="1abc") and not _settings_accept(bridge="..")
    assert not _settings_accept(bridge="br0\n") and not _network_accepts(bridge="br0\n")
