import json
import secrets
import signal
import sqlite3
import subprocess

import pytest

from banger.daemon.build_vm import builder_lease_owner
from banger.network import tap_name
from tests.helpers.daemon import RunningDaemon

pytestmark = pytest.mark.integration


def test_running_operation_becomes_failed_after_restart(bangerd: RunningDaemon) -> None:
    # Fake an operation caught mid-run by a crash: the record exists, the daemon is gone.
    bangerd.stop(signal.SIGKILL)
    with sqlite3.connect(bangerd.state_dir / "banger.db") as conn:
        conn.execute(
            "INSERT INTO operations (id, kind, state, created_at) VALUES "
            "('abc123', 'image.pull', 'running', '2026-01-01T00:00:00+00:00')"
        )
    bangerd.start()
    ops = json.loads(bangerd.cli("--json", "ops", "list", check=True).stdout)
    assert [(o["id"], o["state"], o["error"]["message"]) for o in ops] == [
        ("abc123", "failed", "daemon restarted")
    ]


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_a_builder_cut_off_by_a_restart_gives_back_its_address_and_tap(
    bangerd: RunningDaemon,
) -> None:
    # What a daemon killed mid-build leaves: the builder's lease row and its tap.
    builder_id = f"build-{secrets.token_hex(6)}"
    tap = tap_name(builder_id)
    bangerd.stop(signal.SIGKILL)
    with sqlite3.connect(bangerd.state_dir / "banger.db") as conn:
        conn.executemany(
            "INSERT INTO ip_leases (subnet, ip, owner) VALUES ('10.99.0.0/24', ?, ?)",
            [("10.99.0.7", builder_lease_owner(builder_id)), ("10.99.0.8", "a-vm-id")],
        )
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    try:
        bangerd.start()
        with sqlite3.connect(bangerd.state_dir / "banger.db") as conn:
            owners = [row[0] for row in conn.execute("SELECT owner FROM ip_leases")]
        assert owners == ["a-vm-id"]  # a VM's lease is not a builder's
        assert not _link_exists(tap)
    finally:
        if _link_exists(tap):
            subprocess.run(["ip", "link", "del", tap], check=False)
