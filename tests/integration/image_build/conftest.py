"""One real daemon for the image build tests, with the Debian kernel and image registered."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon, debian_daemon


@pytest.fixture(scope="module")
def buildd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with debian_daemon(tmp_path_factory.mktemp("bd")) as daemon:
        yield daemon


def image_names(daemon: RunningDaemon) -> set[str]:
    listed = json.loads(daemon.cli("--json", "image", "list", check=True).stdout)
    return {image["name"] for image in listed}


def build_leftovers(daemon: RunningDaemon, taps_before: set[str]) -> list[str]:
    """Everything a failed build could have left behind, named."""
    found = []
    tmp = daemon.state_dir / "tmp"
    found += [f"tmp entry {p.name}" for p in tmp.iterdir()]
    images = daemon.state_dir / "images"
    with sqlite3.connect(daemon.state_dir / "banger.db") as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM images")}
        found += [f"vm row {r[0]}" for r in conn.execute("SELECT name FROM vms")]
    found += [f"image dir {p.name}" for p in images.iterdir() if p.name not in ids]
    procs = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True).stdout
    found += [f"qemu {line}" for line in procs.splitlines() if str(daemon.state_dir) in line]
    found += [f"tap {tap}" for tap in all_taps() - taps_before]
    return found


def all_taps() -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "link", "show", "type", "tun"], capture_output=True, text=True
    ).stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def image_json(daemon: RunningDaemon, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(daemon.cli("image", "show", name, "--json", check=True).stdout)


def rootfs_of(daemon: RunningDaemon, name: str) -> Path:
    return Path(image_json(daemon, name)["files"]["rootfs"])
