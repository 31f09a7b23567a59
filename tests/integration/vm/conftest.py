"""One real daemon for the VM lifecycle tests, with the Debian kernel and image registered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers.daemon import RunningDaemon, debian_daemon


@pytest.fixture(scope="module")
def vmd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("vmd")
    with debian_daemon(root, user_config='default_image_name = "deb"\n') as daemon:
        yield daemon


def vm_json(daemon: RunningDaemon, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(daemon.cli("vm", "show", name, "--json", check=True).stdout)


def host_leftovers(daemon: RunningDaemon, vm: dict) -> list[str]:  # type: ignore[type-arg]
    """Everything a deleted VM could have left on the host, named."""
    import subprocess

    found = []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if vm.get("tap") and vm["tap"] in links:
        found.append(f"tap {vm['tap']}")
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    if vm.get("tap") and vm["tap"] in ruleset:
        found.append(f"port guard elements of {vm['tap']}")
    vm_dir = daemon.state_dir / "vms" / vm["id"]
    if vm_dir.exists():
        found.append(f"dir {vm_dir}")
    procs = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True).stdout
    if str(vm_dir) in procs:
        found.append("qemu process")
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    if str(vm_dir) in loops:
        found.append("loop device")
    import sqlite3

    with sqlite3.connect(daemon.state_dir / "banger.db") as conn:
        if conn.execute("SELECT 1 FROM ip_leases WHERE owner = ?", (vm["id"],)).fetchone():
            found.append("ip lease")
        if conn.execute("SELECT 1 FROM vms WHERE id = ?", (vm["id"],)).fetchone():
            found.append("vm row")
    return found


def all_taps() -> set[str]:
    import subprocess

    out = subprocess.run(
        ["ip", "-j", "link", "show", "type", "tun"], capture_output=True, text=True
    )
    return {link["ifname"] for link in json.loads(out.stdout or "[]")}


def kernel_version(daemon: RunningDaemon) -> str:
    return json.loads(daemon.cli("kernel", "show", "debian", "--json", check=True).stdout)[
        "version"
    ]
