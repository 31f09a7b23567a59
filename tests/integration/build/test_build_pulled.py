"""`image build` from a pulled OCI image without sshd: build mode needs no ssh at all."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from banger.disks import debugfs
from tests.helpers.daemon import RunningDaemon
from tests.helpers.registry import LAYER_TAR, RunningRegistry, start_registry
from tests.integration.oci.test_big_minbase import minbase_tarball

from .conftest import all_taps, build_leftovers, image_json, image_names, rootfs_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def pulled(buildd: RunningDaemon, registry: RunningRegistry) -> str:
    data = minbase_tarball().read_bytes()
    registry.push_image("debian/minbase", "bookworm", [(data, LAYER_TAR, data)])
    # Through the API: the `image pull` verb is not wired into the CLI yet.
    body = {
        "ref": f"{registry.address}/debian/minbase:bookworm",
        "insecure": True,
        "name": "minbase",
        "kernel_ref": "debian",
    }
    with buildd.http() as client:
        op = client.post("/images/pull", json=body).json()
        deadline = time.monotonic() + 600
        while op["state"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, op
            time.sleep(0.5)
            op = client.get(f"/operations/{op['id']}").json()
    assert op["state"] == "succeeded", op
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
    assert debugfs.read_file(rootfs_of(buildd, "minbase-hi"), "/etc/built-here") == b"marker-42\n"
    buildd.cli("image", "delete", "minbase-hi", check=True)


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
