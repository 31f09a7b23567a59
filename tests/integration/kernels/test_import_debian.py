"""Import Debian's real cloud kernel in each supported source form."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from banger.errors import BangerError, FailedPrecondition, InvalidArgument
from banger.kernels import KernelInfo, import_kernel
from banger.kernels.bzimage import elf_arch
from banger.kernels.source import unpack_deb
from banger.ops.reporter import NullReporter
from tests.helpers.kernel_artifacts import debian_kernel, debian_kernel_deb

pytestmark = pytest.mark.integration

VIRTIO_MODULES = ["virtio_mmio.ko", "virtio_pci.ko", "virtio_blk.ko", "virtio_net.ko"]


def initrd_listing(initrd: Path) -> list[str]:
    raw = gzip.decompress(initrd.read_bytes())
    out = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True)
    return out.stdout.decode().split()


def test_import_deb() -> None:
    kernel = debian_kernel()
    info = KernelInfo.model_validate_json((kernel / "kernel.json").read_text())
    deb = debian_kernel_deb()
    # linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb -> 6.1.0-56-cloud-amd64
    assert info.version == deb.name.split("_")[0].removeprefix("linux-image-")
    assert info.arch == "x86_64"
    assert elf_arch((kernel / "vmlinux").read_bytes()[:64]) == "x86_64"
    assert info.has_bzimage and (kernel / "bzImage").is_file()
    assert info.initrd_generated and info.has_initrd
    assert info.features["ext4"] == "builtin"
    assert info.features["virtio_blk"] == "module"
    assert info.mmio_cmdline_devices is False
    assert (kernel / "modules" / info.version / "modules.dep").is_file()
    assert (kernel / "config").read_text().startswith("#")
    members = initrd_listing(kernel / "initrd.img")
    names = [m.rsplit("/", 1)[-1] for m in members if m.endswith(".ko")]
    print("initrd modules:", names)
    for module in [*VIRTIO_MODULES, "virtio.ko", "virtio_ring.ko"]:
        assert module in names
    assert names.index("virtio.ko") < names.index("virtio_blk.ko")
    assert len(names) == len(info.initrd_modules)


def test_import_tree_and_bare_bzimage(tmp_path: Path) -> None:
    tree = unpack_deb(debian_kernel_deb(), tmp_path / "tree")
    info = import_kernel(tree, tmp_path / "k-tree", name="tree", reporter=NullReporter())
    (vmlinuz,) = (tree / "boot").glob("vmlinuz-*")
    bare = import_kernel(vmlinuz, tmp_path / "k-bare", name="bare", reporter=NullReporter())
    assert bare.version == info.version
    # The bare bzImage has no config and no modules: the kernel cannot reach virtio
    # devices without modules, but import works; features come out absent.
    assert bare.features["virtio_blk"] == "absent"
    assert not bare.has_initrd
    assert json.loads((tmp_path / "k-bare/kernel.json").read_text())["name"] == "bare"
    modules = tree / "lib/modules" / info.version
    with_mods = import_kernel(
        vmlinuz, tmp_path / "k-mods", name="m", modules_dir=modules, reporter=NullReporter()
    )
    assert with_mods.initrd_generated
    assert with_mods.features["virtio_blk"] == "module"
    assert with_mods.features["ext4"] == "builtin"


def test_failures_leave_nothing_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(InvalidArgument):
        import_kernel(junk, tmp_path / "out", name="x", reporter=NullReporter())
    tree = unpack_deb(debian_kernel_deb(), tmp_path / "tree")
    with pytest.raises(FailedPrecondition):
        import_kernel(
            tree,
            tmp_path / "out",
            name="x",
            busybox=Path("/bin/ls"),
            reporter=NullReporter(),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk", "tree"]
    (tmp_path / "exists").mkdir()
    with pytest.raises(BangerError, match="already exists"):
        import_kernel(junk, tmp_path / "exists", name="x", reporter=NullReporter())
