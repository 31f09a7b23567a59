"""IP leases stay unique when many creates race for them."""

import threading
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from banger.daemon.leases import Leases
from banger.errors import Conflict
from banger.network import NetworkConfig
from banger.store import Database


def test_concurrent_acquires_never_share_an_address(tmp_path: Path) -> None:
    net = NetworkConfig(bridge="bt0", subnet=IPv4Network("10.99.0.0/26"))
    leases = Leases(Database(tmp_path / "b.db"), str(net.subnet))
    got: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        ip = leases.acquire(f"vm{n}", net)
        with lock:
            got.append(str(ip))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 40 == len(set(got))
    assert str(net.gateway) not in got


def test_release_frees_and_full_subnet_is_a_conflict(tmp_path: Path) -> None:
    net = NetworkConfig(bridge="bt0", subnet=IPv4Network("10.99.0.0/29"))  # 5 for VMs
    leases = Leases(Database(tmp_path / "b.db"), str(net.subnet))
    first = leases.acquire("a", net)
    for owner in "bcde":
        leases.acquire(owner, net)
    with pytest.raises(Conflict, match="full"):
        leases.acquire("f", net)
    leases.release("a")
    assert leases.acquire("build-x", net) == first
    assert leases.owners("build-") == ["build-x"]


def test_owners_match_the_prefix_literally(tmp_path: Path) -> None:
    """'_' is not a wildcard and case counts: a VM id never passes for a builder's lease."""
    net = NetworkConfig(bridge="bt0", subnet=IPv4Network("10.99.0.0/28"))
    leases = Leases(Database(tmp_path / "b.db"), str(net.subnet))
    for owner in ("b_x_1", "BUILD_x", "bu-x", "b-x-2"):
        leases.acquire(owner, net)
    assert leases.owners("b_x") == ["b_x_1"]
    assert leases.owners("b-x") == ["b-x-2"]
    assert leases.owners("build_") == []
