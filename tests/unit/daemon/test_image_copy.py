"""A member's registration copied from fds they opened; unmanaged images only of root."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import Image, ImageFiles, ImageSource
from banger.api.requests import ImageRegister
from banger.daemon.image_copy import copy_from_fd, copy_registered, require_trusted_files
from banger.errors import FailedPrecondition
from banger.hostfiles import Caller

_nobody = pwd.getpwnam("nobody")
NOBODY = Caller(_nobody.pw_uid, _nobody.pw_gid, (_nobody.pw_gid,))


@pytest.fixture
def world() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="banger-regcopy-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_copy_keeps_holes(tmp_path: Path) -> None:
    source = tmp_path / "sparse"
    with open(source, "wb") as out:
        out.write(b"head")
        out.seek(64 << 20)
        out.write(b"tail")
        out.truncate(128 << 20)  # a trailing hole too
    fd = os.open(source, os.O_RDONLY)
    try:
        assert copy_from_fd(fd, tmp_path / "copy") == 128 << 20
    finally:
        os.close(fd)
    copy = tmp_path / "copy"
    assert copy.stat().st_size == 128 << 20 and copy.stat().st_blocks * 512 < 1 << 20
    assert copy.read_bytes() == source.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o600


def test_copies_are_validated_and_errors_name_the_callers_path(world: Path) -> None:
    rootfs = world / "root.ext4"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(rootfs), "8M"], check=True)
    kernel = world / "vmlinux"
    kernel.write_bytes(b"\x7fELF" + bytes(100))
    for path in (rootfs, kernel):
        path.chmod(0o644)
    dest = world / "state" / "images" / "i1"
    (world / "state").mkdir()
    req = ImageRegister(name="x", rootfs=str(rootfs), kernel_file=str(kernel))  # type: ignore[call-arg]
    files = copy_registered(NOBODY, req, world / "state" / "staging", dest)
    assert files.rootfs == dest / "rootfs.ext4" and files.kernel_file == dest / "kernel"
    staged = world / "state" / "staging"
    assert (staged / "rootfs.ext4").read_bytes() == rootfs.read_bytes()
    wrong = ImageRegister(name="y", rootfs=str(kernel), kernel_file=str(kernel))  # type: ignore[call-arg]
    with pytest.raises(FailedPrecondition, match=f"rootfs image {kernel} is not an ext4"):
        copy_registered(NOBODY, wrong, world / "state" / "staging2", dest)


def image(owner: int, managed: bool) -> Image:
    return Image(
        id="i1",
        name="img",
        owner_uid=owner,
        managed=managed,
        files=ImageFiles(rootfs=Path("/x/rootfs.ext4")),
        source=ImageSource(kind="register"),
        created_at=datetime.now(UTC),
    )


def test_root_reads_only_root_registered_unmanaged_images() -> None:
    require_trusted_files(image(0, False))
    require_trusted_files(image(1000, True))
    with pytest.raises(FailedPrecondition, match="uid 1000 registered in place"):
        require_trusted_files(image(1000, False))


def test_an_initrd_and_modules_are_copied_privately(world: Path) -> None:
    rootfs = world / "root.ext4"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(rootfs), "8M"], check=True)
    kernel, initrd = world / "vmlinux", world / "initrd.img"
    kernel.write_bytes(b"\x7fELF" + bytes(100))
    initrd.write_bytes(b"\x1f\x8b" + bytes(100))  # gzip magic: a compressed cpio
    modules = world / "modules" / "6.1.0"
    (modules / "kernel").mkdir(parents=True)
    (modules / "modules.dep").write_text("kernel/virtio.ko:\n")
    (modules / "kernel" / "virtio.ko").write_bytes(b"ko")
    (modules / "build").symlink_to("/usr/src/nowhere")  # dangling: skipped
    for current, dirs, files in os.walk(world):
        for name in dirs + files:
            if not (Path(current) / name).is_symlink():
                os.chmod(Path(current) / name, 0o755 if name in dirs else 0o644)
    (world / "state").mkdir()
    dest = world / "state" / "images" / "i1"
    req = ImageRegister(  # type: ignore[call-arg]
        name="x", rootfs=str(rootfs), kernel_file=str(kernel), initrd=str(initrd),
        modules=str(world / "modules"),
    )  # fmt: skip
    files = copy_registered(NOBODY, req, world / "state" / "staging", dest)
    assert (files.initrd, files.modules) == (dest / "initrd.img", dest / "modules")
    copied = world / "state" / "staging" / "modules" / "6.1.0"
    assert (copied / "kernel" / "virtio.ko").read_bytes() == b"ko"
    assert not (copied / "build").exists() and not (copied / "build").is_symlink()
    assert (copied / "modules.dep").stat().st_mode & 0o777 == 0o600
