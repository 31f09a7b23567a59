"""One real daemon for the image build tests, with the Debian kernel and image registered."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import BIN, RunningDaemon, debian_daemon


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


def interrupt_build_in_first_step(daemon: RunningDaemon, base: str, name: str) -> None:
    """Ctrl-C a CLI build while its first step sleeps: cancelled, and nothing is left."""
    taps_before = all_taps()
    before = image_names(daemon)
    with daemon.http() as client:
        old_ops = {o["id"] for o in client.get("/operations").json()}
    argv = [str(BIN / "banger"), "--socket", str(daemon.socket), "image", "build",
            "--from-image", base, "--name", name,
            "--run", "echo sleeping; sleep 600"]  # fmt: skip
    cli = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **daemon.env}
    )
    try:
        op = wait_for_op(
            daemon,
            lambda o: o["id"] not in old_ops and (o.get("stage") or "").startswith("step 1/1"),
        )
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
        assert cli.returncode != 0
        assert "cancel" in err.decode()
        # Bounded: a cancel must not wait for ssh or TCP to notice the builder is gone.
        done = wait_for_op(
            daemon, lambda o: o["state"] in ("failed", "cancelled"), op["id"], timeout=60
        )
        assert done["state"] == "cancelled", done
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert image_names(daemon) == before
    assert build_leftovers(daemon, taps_before) == []


def wait_for_op(
    daemon: RunningDaemon,
    predicate: Callable[[dict[str, Any]], bool],
    op_id: str | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """An image.build operation (or the one op_id names) once predicate holds for it."""
    deadline = time.monotonic() + timeout
    with daemon.http() as client:
        while time.monotonic() < deadline:
            if op_id is not None:
                ops = [client.get(f"/operations/{op_id}").json()]
            else:
                ops = [o for o in client.get("/operations").json() if o["kind"] == "image.build"]
            for op in ops:
                if predicate(op):
                    return op
            time.sleep(0.3)
    raise AssertionError("the build operation did not reach the expected state")


def build_from_broken_base_fails(
    daemon: RunningDaemon, base: str, breaking_step: str, *expected: str
) -> None:
    """Derive a broken base (in build mode), then build from it: exit 1 with the expected
    words in the error, no image, no leftovers; the broken base is deleted again."""
    broken = "broken-base"
    daemon.cli("image", "build", "--from-image", base, "--name", broken, "--via", "console",
               "--run", breaking_step, check=True)  # fmt: skip
    taps_before = all_taps()
    before = image_names(daemon)
    out = daemon.cli("image", "build", "--from-image", broken, "--name", "never",
                     "--run", "true")  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    for words in expected:
        assert words in out.stderr, out.stderr
    assert image_names(daemon) == before
    assert build_leftovers(daemon, taps_before) == []
    daemon.cli("image", "delete", broken, check=True)
