"""import_kernel on hostile packages and trees: refused in one error, nothing left, and
what it does import is the daemon's alone (0700 directories, 0600 files)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from banger.errors import BangerError, InvalidArgument
from banger.kernels import import_kernel
from banger.kernels.features import FEATURES
from banger.kernels.modules import parse_modules_dep
from banger.ops.reporter import NullReporter
from tests.unit.kernels.hostile import (
    BUILTIN_CONFIG,
    FAKE_VERSION,
    SECRET,
    build_deb,
    fake_kernel,
    files_containing,
    kernel_tree,
    secret_file,
)

KERNEL = f"boot/vmlinuz-{FAKE_VERSION}"
CONFIG = f"boot/config-{FAKE_VERSION}"


def only_inputs_left(tmp_path: Path, *inputs: str) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(inputs)


def test_an_import_is_private_and_its_work_dir_is_gone(tmp_path: Path) -> None:
    tree = kernel_tree(tmp_path / "tree")
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"initrd")
    work = tmp_path / "work"
    info = import_kernel(
        tree, tmp_path / "k", name="k", initrd=initrd, reporter=NullReporter(), work_dir=work
    )
    assert info.version == FAKE_VERSION and info.has_initrd
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700
    for entry in (tmp_path / "k").iterdir():
        assert stat.S_IMODE(entry.lstat().st_mode) == 0o600, entry
    assert (tmp_path / "k/initrd.img").read_bytes() == b"initrd"
    only_inputs_left(tmp_path, "tree", "initrd", "k")


def fifo_kernel(tree: Path, _: Path) -> None:
    (tree / KERNEL).unlink()
    os.mkfifo(tree / KERNEL)


def device(tree: Path, _: Path) -> None:
    os.mknod(tree / "boot/mem", 0o666 | stat.S_IFCHR, os.makedev(1, 1))


def hard_link(tree: Path, _: Path) -> None:
    os.link(tree / KERNEL, tree / "boot/vmlinuz.old")


def absolute_config(tree: Path, secret: Path) -> None:
    (tree / CONFIG).unlink()
    (tree / CONFIG).symlink_to(secret)


def climbing_config(tree: Path, secret: Path) -> None:
    (tree / CONFIG).unlink()
    (tree / CONFIG).symlink_to("../" * 20 + str(secret).lstrip("/"))


def module_dep_outside(tree: Path, secret: Path) -> None:
    """The package ships a modules.dep naming a host file as a needed module."""
    (tree / CONFIG).write_text(BUILTIN_CONFIG.replace("CONFIG_VIRTIO_BLK=y", "CONFIG_VIRTIO_BLK=m"))
    loot = secret.parent / "loot"
    loot.mkdir()
    shutil.copy(secret, loot / "virtio_blk.ko")
    modules = tree / f"lib/modules/{FAKE_VERSION}"
    modules.mkdir(parents=True)
    (modules / "modules.dep").write_text(f"{loot}/virtio_blk.ko:\n")


@pytest.mark.timeout(60)  # the FIFO used to block the import forever
@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (fifo_kernel, f"{KERNEL} is a FIFO"),
        (device, "boot/mem is a character device"),
        (hard_link, "is a hard link"),
        (absolute_config, "points outside the package"),
        (climbing_config, "points outside the package"),
        (module_dep_outside, "outside the modules tree"),
    ],
)
def test_hostile_packages_are_refused_and_leave_nothing(
    tmp_path: Path, spoil: Callable[[Path, Path], None], message: str
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secret = secret_file(secrets)
    tree = kernel_tree(tmp_path / "tree")
    spoil(tree, secret)
    deb = build_deb(tree, tmp_path / "evil.deb")
    shutil.rmtree(tree)
    with pytest.raises(InvalidArgument, match=message) as refused:
        import_kernel(deb, tmp_path / "k", name="k", reporter=NullReporter())
    assert refused.value.hint
    only_inputs_left(tmp_path, "secrets", "evil.deb")
    assert files_containing(tmp_path, SECRET) == [secret, *secrets.glob("loot/*")]


def test_setuid_bits_and_owners_of_a_package_do_not_survive(tmp_path: Path) -> None:
    tree = kernel_tree(tmp_path / "tree")
    os.chmod(tree / KERNEL, 0o6755)
    (tree / "boot/rootshell").write_bytes(b"#!/bin/sh\n")
    os.chmod(tree / "boot/rootshell", 0o4755)
    deb = build_deb(tree, tmp_path / "k.deb")
    import_kernel(deb, tmp_path / "k", name="k", reporter=NullReporter())
    for current, _, files in os.walk(tmp_path / "k"):
        for name in files:
            assert stat.S_IMODE((Path(current) / name).lstat().st_mode) == 0o600


def test_a_symlink_inside_the_package_is_followed(tmp_path: Path) -> None:
    tree = kernel_tree(tmp_path / "tree", config=None)
    (tree / "usr/share").mkdir(parents=True)
    (tree / "usr/share/kconfig").write_text(BUILTIN_CONFIG)
    (tree / CONFIG).symlink_to("../usr/share/kconfig")
    deb = build_deb(tree, tmp_path / "k.deb")
    info = import_kernel(deb, tmp_path / "k", name="k", reporter=NullReporter())
    assert (tmp_path / "k/config").read_text() == BUILTIN_CONFIG
    assert info.features["virtio_blk"] == "builtin"


def test_a_tree_never_leads_banger_out_of_itself(tmp_path: Path) -> None:
    secret = secret_file(tmp_path)
    tree = kernel_tree(tmp_path / "tree", config=None)
    (tree / CONFIG).symlink_to(secret)
    with pytest.raises(InvalidArgument, match="leads out of the kernel tree"):
        import_kernel(tree, tmp_path / "k", name="k", reporter=NullReporter())
    only_inputs_left(tmp_path, "secret", "tree")


def test_a_modules_tree_is_copied_as_files_only(tmp_path: Path) -> None:
    secret = secret_file(tmp_path)
    config = BUILTIN_CONFIG.replace("CONFIG_EXT4_FS=y", "CONFIG_EXT4_FS=m")
    tree = kernel_tree(tmp_path / "tree", config=config)
    modules = tree / f"lib/modules/{FAKE_VERSION}"
    (modules / "kernel/fs").mkdir(parents=True)
    (modules / "kernel/fs/ext4.ko").write_bytes(b"\x7fELF ext4")
    (modules / "kernel/fs/alias.ko").symlink_to("ext4.ko")
    (modules / "kernel/fs/loot.ko").symlink_to(secret)
    (modules / "build").symlink_to("/usr/src")
    (modules / "modules.dep").write_text("kernel/fs/ext4.ko:\n")
    reporter = NullReporter()
    info = import_kernel(tree, tmp_path / "k", name="k", reporter=reporter)
    assert info.initrd_generated and FEATURES["ext4"][1] == "ext4"
    copied = tmp_path / f"k/modules/{FAKE_VERSION}"
    assert (copied / "kernel/fs/alias.ko").read_bytes() == b"\x7fELF ext4"
    assert not (copied / "kernel/fs/loot.ko").exists() and not (copied / "build").exists()
    assert any("loot.ko" in line for line in reporter.lines)
    assert files_containing(tmp_path / "k", SECRET) == []
    for current, dirs, files in os.walk(tmp_path / "k"):
        for name in dirs:
            assert stat.S_IMODE((Path(current) / name).lstat().st_mode) == 0o700
        for name in files:
            assert stat.S_IMODE((Path(current) / name).lstat().st_mode) == 0o600


@pytest.mark.timeout(60)
def test_a_fifo_in_a_modules_tree_is_refused(tmp_path: Path) -> None:
    tree = kernel_tree(tmp_path / "tree")
    modules = tree / f"lib/modules/{FAKE_VERSION}"
    modules.mkdir(parents=True)
    os.mkfifo(modules / "modules.dep")
    with pytest.raises(BangerError, match=r"modules\.dep is a FIFO"):
        import_kernel(tree, tmp_path / "k", name="k", reporter=NullReporter())
    only_inputs_left(tmp_path, "tree")


@pytest.mark.parametrize("path", ["/etc/shadow.ko", "kernel/../../../x.ko", "../x.ko"])
def test_modules_dep_paths_must_stay_inside(path: str) -> None:
    for text in (f"{path}:\n", f"kernel/a.ko: {path}\n"):
        with pytest.raises(InvalidArgument, match="outside the modules tree"):
            parse_modules_dep(text)


@pytest.mark.parametrize("version", ["-o", "..", "x/../../y"])
def test_versions_that_are_not_release_names_are_refused(tmp_path: Path, version: str) -> None:
    """The version names a directory and is depmod's argument: "-o" or ".." must not pass."""
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(fake_kernel().replace(FAKE_VERSION.encode(), version.encode()))
    with pytest.raises(InvalidArgument, match="not a kernel release name"):
        import_kernel(kernel, tmp_path / "k", name="k", reporter=NullReporter())
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    if "/" not in version:
        (tree / f"boot/vmlinuz-{version}").write_bytes(fake_kernel())
        with pytest.raises(InvalidArgument, match="not a kernel release name"):
            import_kernel(tree, tmp_path / "k", name="k", reporter=NullReporter())
    only_inputs_left(tmp_path, "vmlinux", "tree")
