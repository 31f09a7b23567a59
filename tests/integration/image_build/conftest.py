"""One real daemon for the image build tests, with the Debian kernel and image registered."""

from __future__ import annotations

import fcntl
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.images.bootset import copy_sparse
from tests.helpers.daemon import RunningDaemon, make_daemon
from tests.helpers.kernel_artifacts import debian_kernel_deb
from tests.helpers.rootfs_artifacts import cache_dir as rootfs_cache_dir
from tests.helpers.rootfs_artifacts import debian_rootfs_ext4


@pytest.fixture(scope="module")
def buildd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("bd")
    daemon = make_daemon(root / "d")
    user_config = root / "user.toml"
    user_config.write_text("")
    daemon.env = {"BANGER_CONFIG": str(user_config), "XDG_CONFIG_HOME": str(root / "xdg")}
    daemon.start()
    try:
        daemon.cli("kernel", "import", str(debian_kernel_deb()), "--name", "debian", check=True)
        # A private copy: other test runs may replace the shared cached image meanwhile.
        base = private_debian_rootfs(root / "debian.ext4")
        daemon.cli("image", "register", "--name", "deb", "--rootfs", str(base),
                   "--kernel-ref", "debian", check=True)  # fmt: skip
        yield daemon
    finally:
        for vm in json.loads(daemon.cli("--json", "vm", "list").stdout or "[]"):
            daemon.cli("vm", "delete", "--force", vm["name"])
        with daemon.http() as client:
            client.post("/network/teardown")
        daemon.stop()


def private_debian_rootfs(dest: Path) -> Path:
    """Copy the cached Debian image under the cache's lock (others may replace it)."""
    for _ in range(3):
        image = debian_rootfs_ext4()
        with open(rootfs_cache_dir() / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if image.is_file():
                copy_sparse(image, dest)
                return dest
    raise AssertionError("the cached Debian image kept disappearing")


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
