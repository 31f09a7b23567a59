"""Kernel module trees: modules.dep parsing, dependency closure, module decompression.

Paths in modules.dep and modules.builtin are relative to lib/modules/<version>/ and may
end in .ko, .ko.xz, .ko.zst or .ko.gz; a module's name is its basename without those
suffixes, with '-' and '_' interchangeable (the kernel normalises both to '_').
"""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import zstandard

from banger.errors import InvalidArgument, NotFound

MODULE_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """Map module name -> (its path, paths of its direct dependencies).

    A package may bring its own modules.dep: every path in it must stay inside the modules
    tree, or the initrd banger builds could be made to carry any file of the host.
    """
    table: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, deps = line.partition(":")
        for named in (path.strip(), *deps.split()):
            _check_inside(named)
        table[module_name(path.strip())] = (path.strip(), deps.split())
    return table


def _check_inside(path: str) -> None:
    if path.startswith("/") or ".." in path.split("/"):
        raise InvalidArgument(
            f"modules.dep names {path}, outside the modules tree",
            hint="regenerate modules.dep with depmod, or import the package as shipped",
        )


def parse_modules_builtin(text: str) -> set[str]:
    return {module_name(line.strip()) for line in text.splitlines() if line.strip()}


def resolve_load_order(wanted: list[str], dep_table: dict[str, tuple[str, list[str]]]) -> list[str]:
    """Paths of `wanted` modules plus all their dependencies, dependencies first.

    Unknown names raise NotFound: the caller decides beforehand which modules exist.
    """
    order: list[str] = []
    seen: set[str] = set()
    by_path = {path: name for name, (path, _) in dep_table.items()}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in chain:
            raise InvalidArgument(
                f"module dependency cycle: {' -> '.join((*chain, name))}",
                hint="regenerate modules.dep with depmod",
            )
        if name not in dep_table:
            raise NotFound(
                f"module '{name}' is not in modules.dep", hint="check the kernel's modules tree"
            )
        path, deps = dep_table[name]
        for dep_path in deps:
            visit(by_path.get(dep_path, module_name(dep_path)), (*chain, name))
        seen.add(name)
        order.append(path)

    for name in wanted:
        visit(name.replace("-", "_"), ())
    return order


def read_module(path: Path) -> bytes:
    """A module's ELF bytes, decompressed, because busybox insmod loads only plain .ko."""
    data = path.read_bytes()
    name = path.name
    try:
        if name.endswith(".ko.xz"):
            return lzma.decompress(data)
        if name.endswith(".ko.zst"):
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        if name.endswith(".ko.gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, zstandard.ZstdError, OSError, EOFError) as exc:
        raise InvalidArgument(
            f"module {path} could not be decompressed: {exc}", hint="the modules tree is damaged"
        ) from exc
    return data


def plain_module_path(path: str) -> str:
    """Where a module is stored inside the initrd: its compression suffix removed."""
    for suffix in (".xz", ".zst", ".gz"):
        if path.endswith(".ko" + suffix):
            return path[: -len(suffix)]
    return path
