"""The Firecracker backend under the REAL jailer v1.12.1, up to the guest's boot.

use_jailer: the jailer chroots into <vm_dir>/jail/firecracker/<id>/root, joins cgroups,
drops to a dedicated uid/gid and execs the real Firecracker, which banger then configures
through the socket inside the jail and starts. (The guest itself cannot run here: PVM KVM.)
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.vmm import FirecrackerBackend, VMHandle
from banger.vmm.firecracker import FirecrackerApi
from banger.vmm.firecracker.jail import JailSettings, cgroup_version, jail_id, jail_root
from banger.vmm.firecracker.payloads import runtime_paths
from tests.helpers.firecracker_binary import firecracker_binaries

from .firecracker_real import (
    Taps,
    Tracking,
    make_spec,
    processes_under,
    served_requests,
    tap_factory,
)

pytestmark = pytest.mark.integration

JAIL_ID = 40000 + os.getpid() % 20000  # a dedicated, otherwise unused uid and gid


@pytest.fixture(scope="module")
def taps() -> Iterator[Taps]:
    yield from tap_factory()


def _cgroup_setting() -> str:
    return "cpu.shares=512" if cgroup_version() == 1 else "cpu.weight=50"


@pytest.fixture
def jailed() -> Iterator[Tracking]:
    binaries = firecracker_binaries()
    settings = JailSettings(
        jailer_bin=str(binaries.jailer),
        uid=JAIL_ID,
        gid=JAIL_ID,
        cgroups=(_cgroup_setting(),),
    )
    backend = Tracking(binaries.firecracker, settings)
    yield backend
    backend.kill_all()


def _ids(pid: int) -> tuple[int, int]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0])


def _cgroups_of(vm_id: str) -> list[Path]:
    leaf = Path("firecracker") / jail_id(vm_id)
    root = Path("/sys/fs/cgroup")
    return [c / leaf for c in [root, *root.iterdir()] if (c / leaf).is_dir()]


def test_the_real_jailer_runs_firecracker_chrooted_unprivileged_and_in_its_cgroup(
    jailed: Tracking, taps: Taps, tmp_path: Path
) -> None:
    assert jailed.tap_owner == JAIL_ID  # the daemon makes the tap openable by that uid
    spec = make_spec(tmp_path, taps.new(owner=JAIL_ID), vm_id="vm_jail1")
    handle = jailed.start(spec)
    root = jail_root(tmp_path, spec.vm_id)
    assert handle.api_socket == root / "firecracker.sock"
    assert jailed.status(handle) == "running"
    assert _ids(handle.pid) == (JAIL_ID, JAIL_ID)  # dropped root
    jail_stat, proc_root = root.stat(), os.stat(f"/proc/{handle.pid}/root")
    assert (proc_root.st_dev, proc_root.st_ino) == (jail_stat.st_dev, jail_stat.st_ino)
    assert _cgroups_of(spec.vm_id), "the jailer put Firecracker in no cgroup of its own"
    assert f"/firecracker/{jail_id(spec.vm_id)}" in Path(f"/proc/{handle.pid}/cgroup").read_text()
    # The VM's disks are the same files, handed to the jail's ids; nothing is copied.
    disk = root / "root.img"
    assert disk.stat().st_ino == spec.drives[0].path.stat().st_ino
    assert disk.stat().st_uid == JAIL_ID
    # Every request, InstanceStart included, was served, with paths inside the jail.
    served = served_requests(runtime_paths(root).log)
    assert served and all(s.ok for s in served), served
    by_path = {s.path: s.body for s in served}
    assert by_path["/boot-source"]["kernel_image_path"] == "/vmlinux"  # type: ignore[index]
    assert by_path["/drives/work"]["path_on_host"] == "/work.img"  # type: ignore[index]
    assert by_path["/vsock"]["uds_path"] == "/vsock.sock"  # type: ignore[index]
    assert by_path["/actions"] == {"action_type": "InstanceStart"}
    with FirecrackerApi(handle.api_socket) as api:
        assert api.describe_instance()["state"] == "Running"

    jailed.stop(handle, timeout=0.5)  # the stalled guest ignores Ctrl+Alt+Del
    assert jailed.status(handle) == "stopped"
    assert processes_under(tmp_path) == []
    assert _cgroups_of(spec.vm_id) == []  # the jailer leaves them; banger removes them
    assert not handle.api_socket.exists() and not (root / "vsock.sock").exists()


def test_a_jailed_firecracker_is_reattached_and_its_kill_9_noticed(
    jailed: Tracking, taps: Taps, tmp_path: Path
) -> None:
    # A state dir deep enough that the jailed socket's path exceeds sun_path (107 bytes).
    vm_dir = tmp_path / ("deep-state-directory-" * 3)
    vm_dir.mkdir()
    spec = make_spec(vm_dir, taps.new(owner=JAIL_ID), vm_id="vm_jail2")
    assert len(str(jail_root(vm_dir, spec.vm_id) / "firecracker.sock")) > 107
    handle = jailed.start(spec)
    restored = VMHandle.model_validate_json(handle.model_dump_json())
    fresh = FirecrackerBackend(jailed.firecracker_bin, jailed.jail)  # a restarted daemon
    assert fresh.reattach(restored)
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while fresh.status(restored) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh.status(restored) == "stopped" and not fresh.reattach(restored)
    again = jailed.start(spec)  # over the jail a killed Firecracker left behind
    assert jailed.status(again) == "running"
    jailed.kill(again)
    assert _cgroups_of(spec.vm_id) == []
