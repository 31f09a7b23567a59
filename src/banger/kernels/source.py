"""Find the parts of a kernel source: a .deb, an unpacked tree, or a bare kernel file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from banger.errors import InvalidArgument
from banger.kernels import debfile, safetar
from banger.kernels.hostread import HostInputError, locate_parts
from banger.kernels.private import banger_error, inside, open_input
from banger.ops.reporter import NullReporter, Reporter

DEB_MAGIC = debfile.DEB_MAGIC
LINUX_BANNER = re.compile(rb"Linux version (\S+) \(")


@dataclass(frozen=True)
class KernelParts:
    kernel: Path
    version: str | None
    config: Path | None
    modules_dir: Path | None


def is_deb(path: Path) -> bool:
    """Whether regular file `path` starts like a .deb (a FIFO or device is refused)."""
    with os.fdopen(open_input(path, "kernel source"), "rb") as handle:
        return handle.read(len(DEB_MAGIC)) == DEB_MAGIC


def unpack_deb(
    deb: Path, into: Path, reporter: Reporter | None = None, *, label: str | None = None
) -> Path:
    """The package's files, unpacked without installing it, into new directory `into`.

    Hardened like `dpkg-deb -x` is not: only files, directories and symlinks within the
    tree; no owner, mode bit or device of the package survives (see safetar). `label`:
    the name errors give the package (the caller's path, when `deb` is a private copy).
    """
    what = f"kernel package {Path(label).name if label else deb.name}"
    with os.fdopen(open_input(deb, "kernel package"), "rb") as handle:
        safetar.extract(
            debfile.data_tar(handle, what), into, what=what, reporter=reporter or NullReporter()
        )
    return into


def find_in_tree(tree: Path) -> KernelParts:
    """Locate boot/vmlinuz-VERSION (or vmlinux-VERSION), its config and lib/modules/VERSION.

    Each part must stay inside the tree, symlinks resolved: a tree is never a way to make
    banger read a file elsewhere.
    """
    try:
        parts = locate_parts(str(tree))
    except HostInputError as err:
        raise banger_error(err.code, err.message, err.hint) from None
    found = [Path(p) if p else None for p in (parts.kernel, parts.config, parts.modules)]
    for path in found:
        if path is not None and not inside(tree, path):
            raise InvalidArgument(
                f"{path} leads out of the kernel tree {tree}",
                hint="pass a tree whose kernel, config and modules are inside it",
            )
    kernel, config, modules = found
    assert kernel is not None
    return KernelParts(kernel, parts.version, config, modules)


def banner_version(vmlinux: bytes) -> str | None:
    """The release from the "Linux version X (" banner inside an uncompressed kernel."""
    match = LINUX_BANNER.search(vmlinux)
    return match.group(1).decode(errors="replace") if match else None
