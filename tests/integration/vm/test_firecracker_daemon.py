"""`vm create --backend firecracker` through the real daemon, against the conformance fake.

The real Firecracker runs here (test_firecracker_real_daemon.py: create, InstanceStart,
watchdog, reattach, kill -9, delete), but its guest cannot (PVM KVM), so it cannot show a
graceful stop: a guest obeying Ctrl+Alt+Del, Firecracker exiting, and the VM started again.
The fake (tests/fixtures/firecracker_fake, kept in line with the real one by
test_firecracker_fake_parity.py) stands in for that cycle: stop, start and delete.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon, debian_daemon

from .conftest import host_leftovers, vm_json

pytestmark = pytest.mark.integration

FAKE_SOURCE = Path(__file__).resolve().parents[2] / "fixtures/firecracker_fake/firecracker"


@pytest.fixture(scope="module")
def fcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("fcd")
    fake = root / "bin" / "firecracker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SOURCE}" "$@"\n')
    fake.chmod(0o755)
    # accel = "kvm": Firecracker refuses TCG, and this host's KVM cannot run real guests;
    # the fake needs neither.
    config = f'firecracker_bin = "{fake}"\naccel = "kvm"\n'
    with debian_daemon(root, 'default_image_name = "deb"\n', config) as daemon:
        yield daemon


def _fake_processes(vm_dir: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "firecracker"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if str(vm_dir) in line]


def test_create_stop_start_delete_on_firecracker(fcd: RunningDaemon) -> None:
    fcd.cli("vm", "create", "--name", "fc1", "--backend", "firecracker", check=True)
    vm = vm_json(fcd, "fc1")
    assert vm["backend"] == "firecracker" and vm["state"] == "running" and vm["pid"]
    vm_dir = fcd.state_dir / "vms" / vm["id"]
    console = fcd.cli("vm", "logs", "fc1", check=True).stdout
    assert "InstanceStart" in console, console
    assert "drives=['root']" in console
    assert "net=['eth0']" in console
    assert "vsock=3" in console
    assert "init=/banger/init" in console  # banger's guest hook is on the boot args
    assert len(_fake_processes(vm_dir)) == 1

    fcd.cli("vm", "stop", "fc1", check=True)
    assert vm_json(fcd, "fc1")["state"] == "stopped"
    assert "SendCtrlAltDel" in fcd.cli("vm", "logs", "fc1", check=True).stdout  # graceful
    assert _fake_processes(vm_dir) == []

    fcd.cli("vm", "start", "fc1", check=True)
    assert vm_json(fcd, "fc1")["state"] == "running"
    fcd.cli("vm", "delete", "--force", "fc1", check=True)
    assert host_leftovers(fcd, vm) == []
    assert _fake_processes(vm_dir) == []
