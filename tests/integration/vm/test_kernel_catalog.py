"""The kernel catalog through the real daemon and CLI: publish the Debian kernel to a real
registry, pull it back as k2 (byte-identical, digest recorded), boot a VM with it, and let
`image pull --kernel-ref REF` find it by digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.helpers.ignite_image import ignite_layer
from tests.helpers.registry import LAYER_TAR, RunningRegistry
from tests.helpers.rootfs_artifacts import private_debian_rootfs
from tests.unit.oci.tarbuild import file, make_tar

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _kernel(vmd: RunningDaemon, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(vmd.cli("kernel", "show", name, "--json", check=True).stdout)


def test_publish_pull_boot_and_kernel_ref(
    vmd: RunningDaemon, registry: RunningRegistry, tmp_path: Path
) -> None:
    ref = f"{registry.address}/kernels/debian:cli"
    published = vmd.cli("kernel", "publish", "debian", ref, "--insecure", check=True)
    digest = published.stdout.strip().rsplit("@", 1)[1]
    assert digest.startswith("sha256:") and len(digest) == 71

    vmd.cli("kernel", "pull", ref, "--name", "k2", "--insecure", check=True)
    original, k2 = _kernel(vmd, "debian"), _kernel(vmd, "k2")
    assert k2["digest"] == digest and k2["source"] == ref and k2["version"] == original["version"]
    for name in ("vmlinux", "bzImage", "initrd", "config"):
        assert Path(k2["files"][name]).read_bytes() == Path(original["files"][name]).read_bytes()
    listing = vmd.cli("kernel", "list", check=True).stdout
    assert ref in listing and digest[:19] in listing

    rootfs = private_debian_rootfs(tmp_path / "k2.ext4")
    vmd.cli(
        "image",
        "register",
        "--name",
        "deb-k2",
        "--rootfs",
        str(rootfs),
        "--kernel-ref",
        "k2",
        check=True,
    )
    vmd.cli("vm", "create", "--image", "deb-k2", "--name", "cat1", "--wait", check=True)
    uname = vmd.cli("vm", "exec", "cat1", "--", "uname", "-r", check=True)
    assert uname.stdout.strip() == original["version"]
    vmd.cli("vm", "delete", "--force", "cat1", check=True)

    # A catalog reference as --kernel-ref: the kernel with that digest is reused, not pulled.
    layer = make_tar([file("etc/hostname", b"cat\n")])
    registry.push_image("tiny/img", "1", [(layer, LAYER_TAR, layer)])
    before = len(json.loads(vmd.cli("kernel", "list", "--json", check=True).stdout))
    vmd.cli(
        "image",
        "pull",
        f"{registry.address}/tiny/img:1",
        "--insecure",
        "--kernel-ref",
        ref,
        "--name",
        "tiny",
        check=True,
    )
    image = json.loads(vmd.cli("image", "show", "tiny", "--json", check=True).stdout)
    assert image["kernel"] == "k2"
    assert len(json.loads(vmd.cli("kernel", "list", "--json", check=True).stdout)) == before
    for name in ("tiny", "deb-k2"):
        vmd.cli("image", "delete", name, check=True)
    vmd.cli("kernel", "delete", "k2", check=True)


def test_a_bad_reference_or_missing_kernel_fails_in_one_line(
    vmd: RunningDaemon, registry: RunningRegistry
) -> None:
    missing = vmd.cli("kernel", "pull", f"{registry.address}/kernels/none:1", "--insecure")
    assert missing.returncode != 0 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = vmd.cli("kernel", "publish", "debian", "Not/A:Ref!", "--insecure")
    assert bad.returncode != 0 and "invalid" in bad.stderr
    assert vmd.cli("kernel", "show", "none-1").returncode != 0  # nothing half-imported


def test_kernel_ref_pulls_a_catalog_kernel_when_none_matches(
    vmd: RunningDaemon, registry: RunningRegistry
) -> None:
    ref = f"{registry.address}/kernels/auto:1"
    digest = vmd.cli("kernel", "publish", "debian", ref, "--insecure", check=True).stdout
    digest = digest.strip().rsplit("@", 1)[1]
    kernels = json.loads(vmd.cli("kernel", "list", "--json", check=True).stdout)
    assert all(k["digest"] != digest for k in kernels)
    layer = make_tar([file("etc/hostname", b"auto\n")])
    registry.push_image("tiny/auto", "1", [(layer, LAYER_TAR, layer)])
    image_ref = f"{registry.address}/tiny/auto:1"
    vmd.cli(
        "image",
        "pull",
        image_ref,
        "--insecure",
        "--kernel-ref",
        ref,
        "--name",
        "auto-img",
        check=True,
    )
    image = json.loads(vmd.cli("image", "show", "auto-img", "--json", check=True).stdout)
    pulled = _kernel(vmd, image["kernel"])
    assert pulled["digest"] == digest and pulled["source"] == ref and pulled["owner_uid"] == 0
    vmd.cli("image", "delete", "auto-img", check=True)
    vmd.cli("kernel", "delete", image["kernel"], check=True)


def test_an_ignite_style_kernel_image_pulls_and_boots(
    vmd: RunningDaemon, registry: RunningRegistry, tmp_path: Path
) -> None:
    original = _kernel(vmd, "debian")
    layer = ignite_layer(Path(original["files"]["vmlinux"]).parent)
    registry.push_image("ignite/kernel", "6.1", [(layer, LAYER_TAR, layer)])
    ref = f"{registry.address}/ignite/kernel:6.1"
    vmd.cli("kernel", "pull", ref, "--name", "ign", "--insecure", check=True)
    ign = _kernel(vmd, "ign")
    assert ign["source"] == ref and "bzImage" not in ign["files"]  # QEMU boots its ELF (PVH)
    rootfs = private_debian_rootfs(tmp_path / "ign.ext4")
    vmd.cli(
        "image",
        "register",
        "--name",
        "deb-ign",
        "--rootfs",
        str(rootfs),
        "--kernel-ref",
        "ign",
        check=True,
    )
    vmd.cli("vm", "create", "--image", "deb-ign", "--name", "ign1", "--wait", check=True)
    uname = vmd.cli("vm", "exec", "ign1", "--", "uname", "-r", check=True)
    assert uname.stdout.strip() == original["version"]
    vmd.cli("vm", "delete", "--force", "ign1", check=True)
    vmd.cli("image", "delete", "deb-ign", check=True)
    vmd.cli("kernel", "delete", "ign", check=True)
