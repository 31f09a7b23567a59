"""The import checker behind test_import_rules.py: the ARCHITECTURE.md table as an allow-list.

`parse_table` reads the "## Packages" table (package -> "may import"); `check` walks a
source root (`src/banger`) and reports every banger import a package makes that its row
does not allow. Entries are names relative to `banger`: a package (`api`), a module
(`proc`) or a module inside a package (`ops.reporter`, which allows only that module).
Parenthesised notes are commentary: `api (models)` allows `api`. `everything above`
allows every package of the rows above. The package root (`banger/__init__.py`, which
holds only `__version__`) may be imported by anyone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

EVERYTHING = "*"

Table = Mapping[str, frozenset[str]]

_ROW = re.compile(r"^\|\s*`banger\.([\w.]+)`\s*\|.*\|\s*([^|]*?)\s*\|\s*$")


def parse_table(markdown: str) -> dict[str, frozenset[str]]:
    """The "## Packages" table as {package: allowed targets}; EVERYTHING allows all."""
    section = markdown.split("\n## Packages", 1)[1].split("\n## ", 1)[0]
    table: dict[str, frozenset[str]] = {}
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        package, column = match.group(1), re.sub(r"\([^)]*\)", "", match.group(2))
        entries = {e.strip().strip("`").removeprefix("banger.") for e in column.split(",")}
        entries.discard("")
        if entries == {"nothing"}:
            table[package] = frozenset()
        elif entries == {"everything above"}:
            table[package] = frozenset(table) | {EVERYTHING}
        else:
            table[package] = frozenset(entries)
    if not table:
        raise ValueError("no '| `banger.x` | ... | may import |' rows under '## Packages'")
    return table


def check(src_root: Path, table: Table) -> list[str]:
    """Every import under src_root (the `banger` directory) that the table does not allow."""
    problems: list[str] = []
    for entry in sorted(src_root.iterdir()):
        name = entry.name.removesuffix(".py")
        if name.startswith(("_", ".")) or not (entry.is_dir() or entry.suffix == ".py"):
            continue
        if entry.is_dir() and not (entry / "__init__.py").exists():
            continue
        if name not in table:
            problems.append(f"{entry.relative_to(src_root)}: no row in the Packages table")
            continue
        files = sorted(entry.rglob("*.py")) if entry.is_dir() else [entry]
        for path in files:
            for line, target in _imports(src_root, path):
                if not _allowed(name, target, table[name]):
                    shown = f"banger.{target}" if target else "banger"
                    rel = path.relative_to(src_root)
                    problems.append(f"{rel}:{line}: {name} may not import {shown}")
    return problems


def _allowed(package: str, target: str, allowed: frozenset[str]) -> bool:
    if target == "" or EVERYTHING in allowed:
        return True
    if target.split(".")[0] == package:
        return True
    return any(target == entry or target.startswith(entry + ".") for entry in allowed)


def _imports(src_root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, target) per banger import in path; target is relative to banger, "" = root."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(src_root).parts[:-1]  # the banger-relative package of path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "banger" or alias.name.startswith("banger."):
                    yield node.lineno, alias.name.removeprefix("banger").lstrip(".")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    continue  # above the banger root: not ours
                base = package[: len(package) - node.level + 1]
                parts = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module == "banger" or (node.module or "").startswith("banger."):
                parts = node.module.split(".")[1:] if node.module else []
            else:
                continue
            for alias in node.names:
                yield node.lineno, _module_of(src_root, parts, alias.name)


def _module_of(src_root: Path, parts: list[str], name: str) -> str:
    """`from banger.<parts> import name`: the submodule when name is one, else <parts>."""
    candidate = src_root.joinpath(*parts, name)
    if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
        return ".".join([*parts, name])
    return ".".join(parts)
