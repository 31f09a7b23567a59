"""Kernels packaged the ignite/flintlock way: a container image with /boot/vmlinux,
/boot/config-*, /lib/modules/<release>.

Its layers are replayed by the hardened OCI replay `image pull` uses (oci.replay: whiteouts,
bounded sizes, nothing resolved on the host), into an in-memory tree; only the kernel file,
its config and the modules tree are then laid out, as regular files and directories, for
kernels.import_kernel. Owners, modes, devices and symlinks of the image are dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from banger.catalog.fetch import Fetcher
from banger.errors import InvalidArgument
from banger.kernels import safetar
from banger.kernels.importer import INITRD_LIMIT, KERNEL_LIMIT, RELEASE
from banger.kernels.private import make_private_dir
from banger.oci.blob_limits import check_layers, read_config
from banger.oci.manifest import parse_config, parse_manifest
from banger.oci.models import ReplayLimits
from banger.oci.replay import replay_layers
from banger.oci.tree import ImageTree, Inode, Kind

# A kernel image holds a kernel and its modules: far below what a root filesystem may.
LIMITS = ReplayLimits(
    max_total_bytes=safetar.MAX_BYTES + KERNEL_LIMIT,
    max_entries=safetar.MAX_ENTRIES,
    max_file_bytes=INITRD_LIMIT,
    max_layers=32,
)
_KERNEL_NAMES = ("vmlinux", "vmlinuz")
_HINT = "a kernel image holds /boot/vmlinux (or vmlinuz-<release>) and /lib/modules/<release>"


@dataclass(frozen=True)
class ContainerKernel:
    root: Path  # a kernel tree (boot/, lib/modules/), or the kernel file alone
    modules: Path | None


def _bad(label: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"{label}: {what}", hint=_HINT)


def _file(tree: ImageTree, parts: list[str], label: str) -> Inode | None:
    """The regular file at parts, through at most one symlink (ignite's /boot/vmlinux)."""
    inode = tree.lookup(parts)
    if inode is not None and inode.kind is Kind.SYMLINK:
        target = inode.target
        base = [] if target.startswith("/") else parts[:-1]
        resolved = [*base, *(p for p in target.split("/") if p not in ("", "."))]
        if ".." in resolved:
            raise _bad(label, f"/{'/'.join(parts)} links out of /boot")
        inode = tree.lookup(resolved)
    if inode is None:
        return None
    if inode.kind is not Kind.FILE or inode.content is None or _sparse(inode):
        raise _bad(label, f"/{'/'.join(parts)} is not a regular file")
    return inode


def _kernel(tree: ImageTree, label: str) -> tuple[Inode, str | None]:
    """The kernel file in /boot and the release its name gives, if any."""
    boot = tree.lookup(["boot"])
    names = sorted(boot.children or {}) if boot is not None and boot.kind is Kind.DIR else []
    for plain in _KERNEL_NAMES:
        if plain in names:
            inode = _file(tree, ["boot", plain], label)
            if inode is not None:
                return inode, None
    versioned = [n for n in names if n.split("-", 1)[0] in _KERNEL_NAMES and "-" in n]
    if len(versioned) == 1:
        inode = _file(tree, ["boot", versioned[0]], label)
        if inode is not None:
            return inode, versioned[0].split("-", 1)[1]
    raise _bad(label, "no single /boot/vmlinux or /boot/vmlinuz-<release>")


def _module_release(tree: ImageTree, label: str) -> str | None:
    for base in (["lib", "modules"], ["usr", "lib", "modules"]):
        node = tree.lookup(base)
        if node is None or node.kind is not Kind.DIR:
            continue
        releases = [n for n, c in (node.children or {}).items() if c.inode.kind is Kind.DIR]
        if len(releases) != 1:
            raise _bad(label, f"/{'/'.join(base)} holds {len(releases)} releases, expected one")
        return releases[0]
    return None


def _copy_modules(tree: ImageTree, src: list[str], dest: Path) -> None:
    """Directories and regular files below src, as private copies (hard links of the
    replay's staged content); symlinks, devices and the like are left out."""
    make_private_dir(dest)
    pending: list[tuple[Inode, Path]] = [(tree.lookup(src), dest)]  # type: ignore[list-item]
    while pending:
        directory, target = pending.pop()
        for name, child in sorted((directory.children or {}).items()):
            inode = child.inode
            if inode.kind is Kind.DIR:
                make_private_dir(target / name)
                pending.append((inode, target / name))
            elif inode.kind is Kind.FILE and inode.content is not None and not _sparse(inode):
                os.link(inode.content, target / name)


def _sparse(inode: Inode) -> bool:
    return inode.stored != inode.size


def _replay(manifest: dict[str, object], fetcher: Fetcher, work: Path) -> ImageTree:
    config_desc, layers = parse_manifest(_canonical(manifest))
    check_layers(config_desc, layers, LIMITS)
    config_path = fetcher.get(config_desc)
    _, diff_ids, _ = parse_config(read_config(config_path, config_desc.digest))
    blobs = []
    for index, layer in enumerate(layers):
        diff_id = diff_ids[index] if len(diff_ids) == len(layers) else None
        blobs.append((fetcher.get(layer), layer.digest, diff_id))
    content = work / "content"
    make_private_dir(content)
    tree = ImageTree()
    replay_layers(tree, blobs, content, LIMITS)
    return tree


def _canonical(manifest: dict[str, object]) -> bytes:
    return json.dumps(manifest).encode()


def tree_from_image(
    manifest: dict[str, object], fetcher: Fetcher, work: Path, label: str
) -> ContainerKernel:
    """Replay the image's layers and lay out its kernel for import under work/."""
    tree = _replay(manifest, fetcher, work)
    kernel, named_release = _kernel(tree, label)
    release = _module_release(tree, label) or named_release
    assert kernel.content is not None
    if release is None:
        return ContainerKernel(root=kernel.content, modules=None)  # the import finds it
    if not RELEASE.fullmatch(release):
        raise _bad(label, f"{release[:80]!r} is not a kernel release name")
    root = work / "tree"
    make_private_dir(root)
    make_private_dir(root / "boot")
    os.link(kernel.content, root / "boot" / f"vmlinux-{release}")
    config = _file(tree, ["boot", f"config-{release}"], label)
    if config is not None and config.content is not None:
        os.link(config.content, root / "boot" / f"config-{release}")
    modules = None
    for base in (["lib", "modules", release], ["usr", "lib", "modules", release]):
        node = tree.lookup(base)
        if node is not None and node.kind is Kind.DIR:
            modules = work / "modules" / release
            make_private_dir(modules.parent)
            _copy_modules(tree, base, modules)
            break
    return ContainerKernel(root=root, modules=modules)
