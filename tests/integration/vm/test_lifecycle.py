"""The core loop on a real VM: create --wait, ssh, exec, cp, stop/start, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.integration.vm.conftest import host_leftovers, kernel_version, vm_json

pytestmark = pytest.mark.integration


def test_core_loop(vmd: RunningDaemon, tmp_path: Path) -> None:
    vmd.cli("vm", "create", "--name", "t1", "--wait", check=True)
    vm = vm_json(vmd, "t1")
    assert vm["state"] == "running" and vm["backend"] == "qemu" and vm["ip"]
    assert vm["disk_strategy"] in ("reflink", "copy") and vm["pid"]

    uname = vmd.cli("vm", "ssh", "t1", "--", "uname", "-r", check=True)
    assert uname.stdout.strip() == kernel_version(vmd)

    assert vmd.cli("vm", "exec", "t1", "--", "sh", "-c", "exit 7").returncode == 7
    assert vmd.cli("vm", "exec", "t1", "--", "hostname", check=True).stdout.strip() == "t1"
    console = vmd.cli("vm", "logs", "t1", check=True).stdout
    assert "banger-init: exec /sbin/init" in console and "Linux version" in console

    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 64)
    vmd.cli("vm", "cp", str(payload), "t1:/root/payload.bin", check=True)
    back = tmp_path / "back.bin"
    vmd.cli("vm", "cp", "t1:/root/payload.bin", str(back), check=True)
    assert back.read_bytes() == payload.read_bytes()

    # Stop and start keep the disk's contents.
    vmd.cli("vm", "stop", "t1", check=True)
    stopped = vm_json(vmd, "t1")
    assert stopped["state"] == "stopped" and stopped["pid"] is None and stopped["ip"] is None
    vmd.cli("vm", "start", "t1", "--wait", check=True)
    same = vmd.cli("vm", "exec", "t1", "--", "sha256sum", "/root/payload.bin", check=True)
    import hashlib

    assert same.stdout.split()[0] == hashlib.sha256(payload.read_bytes()).hexdigest()

    running = vm_json(vmd, "t1")
    refused = vmd.cli("vm", "delete", "t1")
    assert refused.returncode != 0 and "--force" in refused.stderr
    vmd.cli("vm", "delete", "t1", "--force", check=True)
    assert host_leftovers(vmd, running) == []
    assert vmd.cli("vm", "show", "t1").returncode != 0
