"""An OCI image with openssh-server, pulled from a real local registry, boots and answers ssh."""

from __future__ import annotations

import json

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.helpers.debian_tarballs import ssh_tarball
from tests.helpers.registry import LAYER_TAR, RunningRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_pull_boot_ssh_and_warm_repull(vmd: RunningDaemon, registry: RunningRegistry) -> None:
    data = ssh_tarball().read_bytes()
    registry.push_image("debian/ssh", "bookworm", [(data, LAYER_TAR, data)])
    ref = f"{registry.address}/debian/ssh:bookworm"

    out = vmd.cli("image", "pull", ref, "--insecure", "--kernel-ref", "debian", "--name", "pulled")
    assert out.returncode == 0, out.stderr
    assert "no SSH server" not in out.stdout + out.stderr
    image = json.loads(vmd.cli("image", "show", "pulled", "--json", check=True).stdout)
    assert image["managed"] and image["source"]["kind"] == "pull"
    assert image["source"]["ref"] == ref and image["source"]["digest"].startswith("sha256:")
    assert image["source"]["platform"] == "linux/amd64"

    vmd.cli("vm", "create", "--image", "pulled", "--name", "p1", "--wait", check=True)
    owners = vmd.cli(
        "vm",
        "exec",
        "p1",
        "--",
        "stat",
        "-c",
        "%U:%G:%a",
        "/etc/shadow",
        "/usr/bin/passwd",
        check=True,
    )
    assert owners.stdout.split() == ["root:shadow:640", "root:root:4755"]
    vmd.cli("vm", "delete", "--force", "p1", check=True)
    assert vmd.cli("vm", "show", "p1").returncode != 0

    warm = vmd.cli(
        "--json",
        "image",
        "pull",
        ref,
        "--insecure",
        "--kernel-ref",
        "debian",
        "--name",
        "pulled-again",
        check=True,
    )
    provenance = json.loads(warm.stdout)["provenance"]
    assert provenance["downloaded_layers"] == 0 and provenance["cached_layers"] == 1
    for name in ("pulled", "pulled-again"):
        vmd.cli("image", "delete", name, check=True)
