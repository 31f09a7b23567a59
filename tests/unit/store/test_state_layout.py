"""The state directory: docs/ARCHITECTURE.md's listing and store/layout.py name the same tree,
and the helper packages that write files of their own write them where layout.py says."""

from __future__ import annotations

import inspect
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from banger.kernels import model as kernel_files
from banger.oci.cache import BlobCache
from banger.oci.rootfs_cache import RootfsCache
from banger.store.layout import StateLayout
from banger.vmm.firecracker import jail
from banger.vmm.firecracker.payloads import runtime_paths
from banger.vmm.qemu import argv as qemu_argv

DOC = Path(__file__).parents[3] / "docs" / "ARCHITECTURE.md"
ROOT = Path("/state")
ID = "<id>"


def code_tree(layout: Any, found: set[str] | None = None) -> set[str]:
    """Every path layout.py defines, relative to the root, "<id>" standing for an id.

    Properties are read; methods of one argument are called with "<id>"; a returned
    directory object (anything with `.path`) is walked in turn.
    """
    found = set() if found is None else found
    for name, member in vars(type(layout)).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            value = getattr(layout, name)
        elif inspect.isfunction(member) and len(inspect.signature(member).parameters) == 2:
            value = getattr(layout, name)(ID)
        else:
            continue
        path = value.path if hasattr(value, "path") else value
        if isinstance(path, Path):
            found.add(path.relative_to(ROOT).as_posix())
        if hasattr(value, "path"):
            code_tree(value, found)
    return found


def doc_block(text: str) -> str:
    section = text.split("## State directory", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```\n(.*?)```", section, re.S)
    assert match, "the State directory section has no ``` listing"
    return match.group(1)


def doc_tree(block: str) -> set[str]:
    """Paths of an indented listing: two spaces per level, a name, then its description.

    A line that starts exactly where the previous line's description starts continues it.
    """
    found: set[str] = set()
    parents: list[str] = []
    description_column = -1
    for number, line in enumerate(block.splitlines(), 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == description_column:
            continue
        name_end = indent + len(line.split()[0])
        description = line[name_end:].lstrip(" ")
        description_column = len(line) - len(description) if description else -1
        if indent % 2 or indent // 2 > len(parents):
            raise AssertionError(f"listing line {number} is not indented by two spaces a level")
        parents = parents[: indent // 2]
        name = line.split()[0]
        if parents and not parents[-1].endswith("/"):
            raise AssertionError(f"listing line {number}: {parents[-1]} is not a directory")
        parents.append(name)
        found.add("".join(parents).rstrip("/"))
    return found


def test_the_architecture_doc_lists_exactly_what_layout_defines() -> None:
    documented = doc_tree(doc_block(DOC.read_text()))
    defined = code_tree(StateLayout(ROOT))
    assert not documented - defined, "listed in docs/ARCHITECTURE.md, unknown to layout.py"
    assert not defined - documented, "defined in store/layout.py, missing from the doc listing"


LISTING = """\
banger.db        the database,
                 on two lines
kernels/
  <id>/          a kernel
    vmlinux      ELF
cache/
  blobs/sha256/  blobs
"""


def test_the_listing_parser_reads_nesting_and_rejects_bad_indents() -> None:
    assert doc_tree(LISTING) == {
        "banger.db",
        "kernels",
        "kernels/<id>",
        "kernels/<id>/vmlinux",
        "cache",
        "cache/blobs/sha256",
    }
    with pytest.raises(AssertionError, match="two spaces"):
        doc_tree("kernels/\n   <id>/  odd indent\n")
    with pytest.raises(AssertionError, match="not a directory"):
        doc_tree("banger.db  file\n  inside  a file cannot hold this\n")


def test_the_walk_sees_nested_directories_and_per_id_methods() -> None:
    # If the walk stopped at the first level, the doc comparison would pass vacuously.
    tree = code_tree(StateLayout(ROOT))
    assert {"vms/<id>/root.ext4", "tmp/build-<id>/client_key", "kernels/<id>/kernel.json"} <= tree
    assert "tmp/image-<id>" in tree and "cache/blobs/sha256" in tree


def test_kernel_importer_writes_the_names_layout_declares() -> None:
    kernel = StateLayout(ROOT).kernel("k1")
    assert kernel.vmlinux.name == kernel_files.VMLINUX
    assert kernel.bzimage.name == kernel_files.BZIMAGE
    assert kernel.initrd.name == kernel_files.INITRD
    assert kernel.config.name == kernel_files.CONFIG
    assert kernel.modules.name == kernel_files.MODULES
    assert kernel.info.name == kernel_files.KERNEL_JSON


def test_vmms_keep_their_files_where_layout_declares() -> None:
    vm = StateLayout(ROOT).vm("v1")
    assert vm.qmp_socket == vm.path / qemu_argv.QMP_SOCKET
    assert vm.qemu_pidfile == vm.path / qemu_argv.PIDFILE
    firecracker = runtime_paths(vm.path)
    assert firecracker.api_socket == vm.firecracker_socket
    assert firecracker.log == vm.firecracker_log
    assert firecracker.metrics == vm.firecracker_metrics
    assert firecracker.vsock == vm.vsock_socket
    assert jail.chroot_base(vm.path) == vm.firecracker_jail


def test_oci_caches_live_where_layout_declares() -> None:
    layout = StateLayout(ROOT)
    blobs = BlobCache(layout.cache)
    assert blobs.blobs == layout.blobs
    assert blobs.tmp == layout.blob_staging
    assert RootfsCache(layout.cache).root == layout.rootfs_cache


def test_image_file_names_are_the_ones_promotion_and_builds_use() -> None:
    from banger.daemon import images

    # images.py (and builds.py, pull.py through it) must not grow names of its own again.
    image = StateLayout(ROOT).image("i1")
    assert (image.rootfs.name, image.work_seed.name) == (images.ROOTFS, images.WORK_SEED)


def test_ensure_makes_a_root_only_tree_and_empties_tmp(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "state")
    layout.ensure()
    (layout.tmp / "image-old").mkdir()
    (layout.tmp / "image-old" / "rootfs.ext4").write_bytes(b"half")
    (layout.tmp / "stray").write_text("x")
    os.symlink(tmp_path, layout.tmp / "link")  # removed, and not followed
    layout.ensure()
    assert list(layout.tmp.iterdir()) == []
    assert tmp_path.is_dir()
    assert stat.S_IMODE(layout.root.stat().st_mode) == 0o700
    for directory in (layout.kernels, layout.images, layout.vms, layout.cache):
        assert directory.is_dir()
