"""Find the parts of a kernel source: a .deb, an unpacked tree, or a bare kernel file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from banger import proc
from banger.errors import InvalidArgument, NotFound

DEB_MAGIC = b"!<arch>\ndebian-binary"
LINUX_BANNER = re.compile(rb"Linux version (\S+) \(")


@dataclass(frozen=True)
class KernelParts:
    kernel: Path
    version: str | None
    config: Path | None
    modules_dir: Path | None


def is_deb(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(DEB_MAGIC)) == DEB_MAGIC


def unpack_deb(deb: Path, into: Path) -> Path:
    """`dpkg-deb -x deb into`: unpack the package's files without installing it."""
    into.mkdir(parents=True)
    proc.run(
        ["dpkg-deb", "-x", deb, into],
        hint="check the file is a complete Debian kernel package",
    )
    return into


def find_in_tree(tree: Path) -> KernelParts:
    """Locate boot/vmlinuz-VERSION (or vmlinux-VERSION), its config and lib/modules/VERSION."""
    boot = tree / "boot"
    kernels = sorted(boot.glob("vmlinuz-*")) or sorted(boot.glob("vmlinux-*"))
    if not kernels:
        raise NotFound(
            f"no boot/vmlinuz-* in {tree}",
            hint="pass a tree unpacked from a kernel package, or the kernel file itself",
        )
    if len(kernels) > 1:
        names = ", ".join(k.name for k in kernels)
        raise InvalidArgument(
            f"{tree} holds several kernels ({names})", hint="pass the kernel file you mean"
        )
    kernel = kernels[0]
    version = kernel.name.split("-", 1)[1]
    config = boot / f"config-{version}"
    modules_dir = None
    for base in (tree / "lib" / "modules", tree / "usr" / "lib" / "modules"):
        if (base / version).is_dir():
            modules_dir = base / version
            break
    return KernelParts(kernel, version, config if config.is_file() else None, modules_dir)


def banner_version(vmlinux: bytes) -> str | None:
    """The release from the "Linux version X (" banner inside an uncompressed kernel."""
    match = LINUX_BANNER.search(vmlinux)
    return match.group(1).decode(errors="replace") if match else None
