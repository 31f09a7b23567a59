"""build_initrd on a synthetic modules tree, read back with zcat | cpio."""

from __future__ import annotations

import gzip
import lzma
import subprocess
from pathlib import Path

import pytest

from banger.errors import FailedPrecondition
from banger.kernels.initrd import build_initrd, check_static_busybox
from banger.ops.reporter import NullReporter


def make_tree(root: Path) -> Path:
    mods = root / "lib/modules/6.9.0"
    (mods / "kernel/virtio").mkdir(parents=True)
    (mods / "kernel/virtio/virtio.ko").write_bytes(b"\x7fELF-virtio")
    (mods / "kernel/virtio/virtio_blk.ko.xz").write_bytes(lzma.compress(b"\x7fELF-blk"))
    (mods / "kernel/virtio/unused.ko").write_bytes(b"\x7fELF-unused")
    (mods / "modules.dep").write_text(
        "kernel/virtio/virtio.ko:\n"
        "kernel/virtio/virtio_blk.ko.xz: kernel/virtio/virtio.ko\n"
        "kernel/virtio/unused.ko:\n"
    )
    return mods


def cpio_members(initrd: Path, extract_to: Path | None = None) -> list[str]:
    raw = gzip.decompress(initrd.read_bytes())
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True)
    if extract_to is not None:
        subprocess.run(
            ["cpio", "-i", "--quiet", "--make-directories", "--no-absolute-filenames"],
            input=raw,
            cwd=extract_to,
            check=True,
            capture_output=True,
        )
    return listing.stdout.decode().split()


def test_initrd_holds_exactly_needed_modules(tmp_path: Path) -> None:
    mods = make_tree(tmp_path)
    initrd = tmp_path / "initrd.img"
    order = build_initrd(initrd, modules_dir=mods, modules=["virtio_blk"], reporter=NullReporter())
    assert order == ["kernel/virtio/virtio.ko", "kernel/virtio/virtio_blk.ko"]
    members = cpio_members(initrd)
    for needed in ("init", "bin/busybox", "dev/console", "etc/banger-modules"):
        assert needed in members
    assert "lib/modules/kernel/virtio/virtio_blk.ko" in members
    assert not any("unused" in m for m in members)


def test_modules_are_decompressed_and_listed_in_order(tmp_path: Path) -> None:
    mods = make_tree(tmp_path)
    initrd = tmp_path / "initrd.img"
    build_initrd(initrd, modules_dir=mods, modules=["virtio_blk"], reporter=NullReporter())
    out = tmp_path / "x"
    out.mkdir()
    cpio_members(initrd, extract_to=out)
    assert (out / "lib/modules/kernel/virtio/virtio_blk.ko").read_bytes() == b"\x7fELF-blk"
    assert (out / "etc/banger-modules").read_text().split() == [
        "kernel/virtio/virtio.ko",
        "kernel/virtio/virtio_blk.ko",
    ]
    init = (out / "init").read_text()
    assert init.startswith("#!/bin/busybox sh")
    # The init script is valid POSIX sh.
    subprocess.run(["sh", "-n", str(out / "init")], check=True)


def test_missing_modules_dep_is_explained(tmp_path: Path) -> None:
    mods = make_tree(tmp_path)
    (mods / "modules.dep").unlink()
    with pytest.raises(FailedPrecondition, match=r"modules\.dep"):
        build_initrd(tmp_path / "i", modules_dir=mods, modules=["virtio"], reporter=NullReporter())


def test_dynamic_busybox_is_refused() -> None:
    # /bin/ls is dynamically linked on Debian: exactly what must not go into an initrd.
    with pytest.raises(FailedPrecondition, match="dynamically linked"):
        check_static_busybox(Path("/bin/ls"))
    assert check_static_busybox(Path("/bin/busybox"))[:4] == b"\x7fELF"
