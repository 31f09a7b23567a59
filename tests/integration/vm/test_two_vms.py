"""Two VMs at once: distinct addresses, they reach each other, survive a daemon restart."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.integration.vm.conftest import host_leftovers, vm_json

pytestmark = pytest.mark.integration


def test_two_vms_network_restart_and_kill(vmd: RunningDaemon) -> None:
    vmd.cli("vm", "create", "--name", "va", check=True)
    vmd.cli("vm", "create", "--name", "vb", "--wait", check=True)
    vmd.cli("vm", "start", "va", "--wait")  # already running: a clear refusal, not a crash
    a, b = vm_json(vmd, "va"), vm_json(vmd, "vb")
    assert a["ip"] != b["ip"] and a["mac"] != b["mac"] and a["tap"] != b["tap"]
    ping = vmd.cli(
        "vm", "exec", "va", "--", "/banger/busybox", "ping", "-c", "2", "-W", "5", b["ip"]
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # Inside a real guest: a second, forged address gets nothing through the port guard,
    # while the leased one still reaches the gateway.
    gateway = a["ip"].rsplit(".", 1)[0] + ".1"
    forged = a["ip"].rsplit(".", 1)[0] + ".250"
    spoof = (
        f"bb=/banger/busybox; dev=$($bb ip -o route get {gateway} | $bb awk '{{print $3}}');"
        f"$bb ip addr add {forged}/32 dev $dev;"
        f"if $bb ping -c 1 -W 3 -I {forged} {gateway}; then echo FORGED-PASSED; fi;"
        f"$bb ping -c 1 -W 3 {gateway} >/dev/null && echo HONEST-OK;"
        f"$bb ip addr del {forged}/32 dev $dev"
    )
    spoofed = vmd.cli("vm", "exec", "va", "--", "/banger/busybox", "sh", "-c", spoof)
    assert "HONEST-OK" in spoofed.stdout and "FORGED-PASSED" not in spoofed.stdout, (
        spoofed.stdout + spoofed.stderr
    )

    # A daemon restart leaves both running and reattaches them.
    vmd.stop()
    vmd.start()
    for name, before in (("va", a), ("vb", b)):
        after = vm_json(vmd, name)
        assert after["state"] == "running" and after["pid"] == before["pid"]
    assert vmd.cli("vm", "exec", "vb", "--", "true").returncode == 0

    # kill -9 of a VMM is noticed within seconds and released.
    os.kill(a["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while vm_json(vmd, "va")["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    dead = vm_json(vmd, "va")
    assert dead["state"] == "stopped" and "exited" in (dead["reason"] or "")
    assert dead["ip"] is None

    for name, vm in (("va", a), ("vb", b)):
        vmd.cli("vm", "delete", "--force", name, check=True)
        assert host_leftovers(vmd, vm) == []
