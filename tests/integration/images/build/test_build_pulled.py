"""`image build` from a pulled OCI image without sshd: build mode needs no ssh at all."""

from __future__ import annotations

import pytest

from banger.disks import debugfs
from tests.helpers.daemon import RunningDaemon
from tests.helpers.debian_tarballs import minbase_tarball
from tests.helpers.registry import LAYER_TAR, RunningRegistry

from .conftest import (
    all_taps,
    build_from_broken_base_fails,
    build_leftovers,
    image_json,
    image_names,
    interrupt_build_in_first_step,
    rootfs_of,
)

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
    interrupt_build_in_first_step(buildd, pulled, "minbase-cancel")


def test_ssh_builder_that_never_answers_fails_clearly(buildd: RunningDaemon, pulled: str) -> None:
    # A base that claims an sshd but whose init powers the VM off at once: `auto` picks
    # ssh and the builder dies before sshd answers.
    build_from_broken_base_fails(
        buildd,
        pulled,
        "printf '#!/bin/sh\\nexit 1\\n' > /usr/sbin/sshd && chmod 755 /usr/sbin/sshd"
        " && printf '#!/banger/busybox sh\\n/banger/busybox poweroff -f\\n' > /sbin/init"
        " && chmod 755 /sbin/init",
        "sshd never answered",
        "--via console",
    )
