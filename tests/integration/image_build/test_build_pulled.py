"""`image build` from a pulled OCI image without sshd: build mode needs no ssh at all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from banger.disks import debugfs
from tests.helpers.daemon import BIN, RunningDaemon
from tests.helpers.debian_tarballs import minbase_tarball
from tests.helpers.registry import LAYER_TAR, RunningRegistry

from .conftest import all_taps, build_leftovers, image_json, image_names, rootfs_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pulled(buildd: RunningDaemon, registry: RunningRegistry) -> str:
    data = minbase_tarball().read_bytes()
    registry.push_image("debian/minbase", "bookworm", [(data, LAYER_TAR, data)])
    buildd.cli(
        "image", "pull", f"{registry.address}/debian/minbase:bookworm", "--insecure",
        "--name", "minbase", "--kernel-ref", "debian", check=True,
    )  # fmt: skip
    assert not image_json(buildd, "minbase")["provenance"]["has_sshd"]
    return "minbase"


def test_run_step_output_reaches_cli_and_image_is_managed(
    buildd: RunningDaemon, pulled: str
) -> None:
    out = buildd.cli(
        "image", "build", "--from-image", pulled, "--name", "minbase-hi",
        "--run", "echo hi; echo marker-$((6 * 7)) > /etc/built-here; exit 0",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hi" in out.stderr.split("\n") or any(
        line.strip() == "hi" for line in out.stderr.splitlines()
    ), out.stderr
    info = image_json(buildd, "minbase-hi")
    base = image_json(buildd, pulled)
    assert info["managed"] is True
    assert info["source"]["kind"] == "build"
    assert info["source"]["digest"] == base["source"]["digest"]
    assert info["provenance"]["base_digest"] == base["source"]["digest"].strip()
    assert info["provenance"]["via"] == "console"  # no sshd in the base: build mode
    assert debugfs.read_file(rootfs_of(buildd, "minbase-hi"), "/etc/built-here") == b"marker-42\n"
    buildd.cli("image", "delete", "minbase-hi", check=True)


def test_via_ssh_without_sshd_is_refused_before_anything_starts(
    buildd: RunningDaemon, pulled: str
) -> None:
    taps_before = all_taps()
    out = buildd.cli("image", "build", "--from-image", pulled, "--name", "minbase-ssh",
                     "--via", "ssh", "--run", "true")  # fmt: skip
    assert out.returncode == 1
    assert "base image minbase has no sshd" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # the error line and its hint
    assert build_leftovers(buildd, taps_before) == []


def test_exit_code_of_failing_step_becomes_cli_exit_code(
    buildd: RunningDaemon, pulled: str
) -> None:
    taps_before = all_taps()
    before = image_names(buildd)
    out = buildd.cli("image", "build", "--from-image", pulled, "--name", "minbase-3",
                     "--run", "exit 3")  # fmt: skip
    assert out.returncode == 3, out.stdout + out.stderr
    assert image_names(buildd) == before
    assert build_leftovers(buildd, taps_before) == []


def test_ctrl_c_cancels_the_build_and_leaves_nothing(buildd: RunningDaemon, pulled: str) -> None:
    taps_before = all_taps()
    before = image_names(buildd)
    with buildd.http() as client:
        old_ops = {o["id"] for o in client.get("/operations").json()}
    argv = [str(BIN / "banger"), "--socket", str(buildd.socket), "image", "build",
            "--from-image", pulled, "--name", "minbase-cancel",
            "--run", "echo sleeping; sleep 600"]  # fmt: skip
    cli = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **buildd.env}
    )
    try:
        op = wait_for_op(
            buildd,
            lambda o: o["id"] not in old_ops and (o.get("stage") or "").startswith("step 1/1"),
        )
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
        assert cli.returncode != 0
        assert "cancel" in err.decode()
        done = wait_for_op(buildd, lambda o: o["state"] in ("failed", "cancelled"), op["id"])
        assert done["state"] == "cancelled", done
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert image_names(buildd) == before
    assert build_leftovers(buildd, taps_before) == []


def wait_for_op(
    daemon: RunningDaemon,
    predicate: Callable[[dict[str, Any]], bool],
    op_id: str | None = None,
) -> dict[str, Any]:
    """An image.build operation (or the one op_id names) once predicate holds for it."""
    deadline = time.monotonic() + 300
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
