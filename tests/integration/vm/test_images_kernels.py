"""register -> promote -> list -> delete, with refusals for objects still in use."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.helpers.rootfs_artifacts import debian_rootfs_ext4, private_debian_rootfs

pytestmark = pytest.mark.integration


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_register_promote_delete_round_trip(vmd: RunningDaemon, tmp_path: Path) -> None:
    source = tmp_path / "root.ext4"
    shutil.copyfile(debian_rootfs_ext4(), source)
    before = _sha(source)
    vmd.cli(
        "image",
        "register",
        "--name",
        "mine",
        "--rootfs",
        str(source),
        "--kernel-ref",
        "debian",
        check=True,
    )
    shown = json.loads(vmd.cli("image", "show", "mine", "--json", check=True).stdout)
    assert not shown["managed"] and shown["files"]["rootfs"] == str(source)

    vmd.cli("image", "promote", "mine", check=True)
    promoted = json.loads(vmd.cli("image", "show", "mine", "--json", check=True).stdout)
    owned = Path(promoted["files"]["rootfs"])
    assert promoted["managed"] and owned.is_relative_to(vmd.state_dir / "images")
    assert _sha(owned) == before and _sha(source) == before  # copy verified, source untouched
    names = [i["name"] for i in json.loads(vmd.cli("image", "list", "--json", check=True).stdout)]
    assert "mine" in names

    # In use: the kernel by images, the image by a VM.
    refused = vmd.cli("kernel", "delete", "debian")
    assert refused.returncode != 0 and "mine" in refused.stderr and "deb" in refused.stderr
    vmd.cli("vm", "create", "--image", "mine", "--name", "holder", "--no-start", check=True)
    refused = vmd.cli("image", "delete", "mine")
    assert refused.returncode != 0 and "holder" in refused.stderr
    vmd.cli("vm", "delete", "holder", check=True)

    vmd.cli("image", "delete", "mine", check=True)
    assert not owned.parent.exists()
    assert source.exists() and _sha(source) == before


def test_an_image_with_its_own_kernel_file_boots(vmd: RunningDaemon, tmp_path: Path) -> None:
    """register --kernel FILE: the file is `files.kernel_file` (`kernel` names managed kernels
    only), and a VM boots that very kernel and initrd."""
    kernel = json.loads(vmd.cli("kernel", "show", "debian", "--json", check=True).stdout)
    bzimage, initrd = kernel["files"]["bzImage"], kernel["files"]["initrd"]
    rootfs = private_debian_rootfs(tmp_path / "own.ext4")
    register = ["--rootfs", str(rootfs), "--kernel", bzimage, "--initrd", initrd]
    vmd.cli("image", "register", "--name", "own", *register, check=True)
    shown = json.loads(vmd.cli("image", "show", "own", "--json", check=True).stdout)
    assert shown["kernel"] is None and shown["provenance"] is None
    assert shown["files"]["kernel_file"] == bzimage and shown["files"]["initrd"] == initrd

    vmd.cli("vm", "create", "--image", "own", "--name", "own1", "--wait", check=True)
    uname = vmd.cli("vm", "exec", "own1", "--", "uname", "-r", check=True)
    assert uname.stdout.strip() == kernel["version"]
    vmd.cli("vm", "delete", "own1", "--force", check=True)
    vmd.cli("image", "delete", "own", check=True)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rootfs", "/nonexistent/root.ext4", "--kernel-ref", "debian"], "does not exist"),
        (["--rootfs", "/etc/hostname", "--kernel-ref", "debian"], "not an ext4"),
        (["--rootfs", "ROOTFS", "--kernel", "/etc/hostname"], "kernel"),
        (["--rootfs", "ROOTFS"], "one of kernel_ref (--kernel-ref) and kernel_file (--kernel)"),
        (["--rootfs", "ROOTFS", "--kernel-ref", "nope"], "no kernel named 'nope'"),
    ],
)
def test_bad_registrations_are_one_line(vmd: RunningDaemon, args: list[str], needle: str) -> None:
    args = [str(debian_rootfs_ext4()) if a == "ROOTFS" else a for a in args]
    out = vmd.cli("image", "register", "--name", "bad", *args)
    assert out.returncode != 0
    assert needle in out.stderr and out.stderr.strip().count("\n") == 0
    assert vmd.cli("image", "show", "bad").returncode != 0


def test_kernel_show_lists_host_paths(vmd: RunningDaemon) -> None:
    kernel = json.loads(vmd.cli("kernel", "show", "debian", "--json", check=True).stdout)
    assert kernel["arch"] == "x86_64" and kernel["initrd_generated"]
    for key in ("vmlinux", "bzImage", "initrd", "modules"):
        assert Path(kernel["files"][key]).exists(), key
    assert Path(kernel["files"]["vmlinux"]).read_bytes()[:4] == b"\x7fELF"


@pytest.mark.slow
def test_bootstrap_through_the_daemon(vmd: RunningDaemon) -> None:
    """The README's default image path: a tracked operation with live output, a managed image."""
    out = vmd.cli(
        "image",
        "bootstrap",
        "debian",
        "--name",
        "boot1",
        "--kernel-ref",
        "debian",
        "--free-mib",
        "64",
        check=True,
        timeout=1200,
    )
    assert "debootstrap" in out.stderr and "build ext4" in out.stderr  # stages streamed live
    image = json.loads(vmd.cli("image", "show", "boot1", "--json", check=True).stdout)
    assert image["managed"] and image["source"] == {
        "kind": "bootstrap",
        "ref": "debian:bookworm",
        "digest": None,
        "platform": None,
    }
    rootfs = image["files"]["rootfs"]
    passwd = subprocess.run(
        ["debugfs", "-R", "stat /usr/bin/passwd", rootfs],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "User:     0" in passwd and "Mode:  04755" in passwd
    hook = subprocess.run(
        ["debugfs", "-R", "stat /banger/init", rootfs], capture_output=True, text=True, check=True
    ).stdout
    assert "Mode:  0755" in hook
    ops = json.loads(vmd.cli("--json", "ops", "list", check=True).stdout)
    done = next(o for o in ops if o["kind"] == "image.bootstrap" and o["target"] == "boot1")
    assert done["state"] == "succeeded" and done["ended_at"]
    vmd.cli("image", "delete", "boot1", check=True)
    assert not Path(rootfs).exists()
