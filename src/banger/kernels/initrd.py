"""Generate the small initrd that loads a modular kernel's virtio drivers and mounts root.

Contents: /bin/busybox (static), /init, /dev/console, /etc/banger-modules (load order)
and /lib/modules/<path>.ko for exactly the needed modules and their dependencies,
decompressed because busybox insmod loads only plain ELF modules.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

from banger.errors import FailedPrecondition
from banger.kernels import cpio
from banger.kernels.bzimage import elf_arch
from banger.kernels.initrd_init import INIT_SCRIPT
from banger.kernels.modules import (
    parse_modules_dep,
    plain_module_path,
    read_module,
    resolve_load_order,
)
from banger.ops.reporter import Reporter

DEFAULT_BUSYBOX = Path("/bin/busybox")
# ELF program header type of the dynamic loader request: present means not static.
PT_INTERP = 3


def check_static_busybox(busybox: Path) -> bytes:
    """Read busybox and make sure it is a static ELF (it runs before any libc exists)."""
    if not busybox.is_file():
        raise FailedPrecondition(
            f"busybox not found at {busybox}", hint="install it: apt-get install busybox-static"
        )
    data = busybox.read_bytes()
    if elf_arch(data) is None:
        raise FailedPrecondition(f"{busybox} is not an ELF executable", hint="use busybox-static")
    if _has_interpreter(data):
        raise FailedPrecondition(
            f"{busybox} is dynamically linked",
            hint="install busybox-static (apt-get install busybox-static) and pass /bin/busybox",
        )
    return data


def _has_interpreter(elf: bytes) -> bool:
    is64 = elf[4] == 2
    order = "<" if elf[5] == 1 else ">"
    if is64:
        phoff, phentsize, phnum = (
            struct.unpack_from(order + "Q", elf, 0x20)[0],
            struct.unpack_from(order + "H", elf, 0x36)[0],
            struct.unpack_from(order + "H", elf, 0x38)[0],
        )
    else:
        phoff, phentsize, phnum = (
            struct.unpack_from(order + "I", elf, 0x1C)[0],
            struct.unpack_from(order + "H", elf, 0x2A)[0],
            struct.unpack_from(order + "H", elf, 0x2C)[0],
        )
    for index in range(phnum):
        (p_type,) = struct.unpack_from(order + "I", elf, phoff + index * phentsize)
        if p_type == PT_INTERP:
            return True
    return False


def _parent_dirs(paths: list[str]) -> list[str]:
    """Every directory needed for `paths`, parents before children."""
    dirs: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def build_initrd(
    dest: Path,
    *,
    modules_dir: Path,
    modules: list[str],
    busybox: Path = DEFAULT_BUSYBOX,
    reporter: Reporter,
) -> list[str]:
    """Write a gzip'd newc initrd to `dest` that loads `modules` (names) and their deps.

    `modules_dir` is lib/modules/<version>/ holding modules.dep. Returns the module
    paths (relative to modules_dir) in the order /init loads them.
    """
    dep_file = modules_dir / "modules.dep"
    if not dep_file.is_file():
        raise FailedPrecondition(
            f"{dep_file} is missing", hint="generate it with depmod before building the initrd"
        )
    order = resolve_load_order(modules, parse_modules_dep(dep_file.read_text()))
    reporter.log(f"initrd modules: {', '.join(order) or '(none)'}")
    plain = [plain_module_path(path) for path in order]

    entries: list[cpio.CpioEntry] = [
        cpio.directory("bin"),
        cpio.directory("dev"),
        cpio.char_device("dev/console", 5, 1),
        cpio.directory("etc"),
        cpio.directory("newroot"),
        cpio.directory("proc"),
        cpio.directory("sys"),
        cpio.regular("bin/busybox", check_static_busybox(busybox), 0o755),
        cpio.symlink("bin/sh", "busybox"),
        cpio.regular("init", INIT_SCRIPT.encode(), 0o755),
        cpio.regular("etc/banger-modules", "".join(f"{p}\n" for p in plain).encode()),
    ]
    module_paths = [f"lib/modules/{p}" for p in plain]
    entries += [cpio.directory(d) for d in ["lib", *_parent_dirs(module_paths)]]
    for source, target in zip(order, module_paths, strict=True):
        reporter.check_cancelled()
        entries.append(cpio.regular(target, read_module(modules_dir / source)))

    buffer = io.BytesIO()
    cpio.write_newc(buffer, _dedupe(entries))
    dest.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0))
    return plain


def _dedupe(entries: list[cpio.CpioEntry]) -> list[cpio.CpioEntry]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.name not in seen:
            seen.add(entry.name)
            unique.append(entry)
    return unique
