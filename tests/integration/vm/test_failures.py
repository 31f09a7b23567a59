"""Bad input is one clear line, and a failed create leaves nothing behind."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.integration.vm.conftest import all_taps

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["Bad_Name", "-x", "a" * 64, "../etc"])
def test_invalid_names_are_refused(vmd: RunningDaemon, name: str) -> None:
    out = vmd.cli("vm", "create", "--name", name)
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "name" in out.stderr


def test_unknown_image_is_one_line(vmd: RunningDaemon) -> None:
    out = vmd.cli("vm", "create", "--name", "x1", "--image", "nope")
    assert out.returncode != 0 and "no image named 'nope'" in out.stderr


def test_failed_create_rolls_back(vmd: RunningDaemon) -> None:
    taps_before = all_taps()
    vms_before = set((vmd.state_dir / "vms").iterdir())
    # Smaller than the image: fails after the VM row and its directory exist.
    out = vmd.cli("vm", "create", "--name", "x2", "--disk-size", "64")
    assert out.returncode != 0 and "--disk-size" in out.stderr
    assert vmd.cli("vm", "show", "x2").returncode != 0
    assert set((vmd.state_dir / "vms").iterdir()) == vms_before
    assert all_taps() == taps_before
    with sqlite3.connect(vmd.state_dir / "banger.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM ip_leases").fetchone()[0] == len(
            [v for v in json.loads(vmd.cli("--json", "vm", "list").stdout) if v["ip"]]
        )


def test_firecracker_without_binary_is_a_clear_error(vmd: RunningDaemon) -> None:
    out = vmd.cli("vm", "create", "--name", "x3", "--backend", "firecracker")
    assert out.returncode != 0
    assert "firecracker binary was not found" in out.stderr and "hint:" in out.stderr
    assert vmd.cli("vm", "show", "x3").returncode != 0
