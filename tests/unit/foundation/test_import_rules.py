"""docs/ARCHITECTURE.md's import rules, enforced: a helper that imports the daemon fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "banger"

# package -> banger packages it must never import
FORBIDDEN = {
    "cli": {
        "daemon",
        "store",
        "ops",
        "kernels",
        "images",
        "oci",
        "network",
        "vmm",
        "disks",
        "guest",
    },
    "client": {"daemon", "store", "cli"},
    "api": {"daemon", "store", "cli", "client"},
    **{
        helper: {"daemon", "cli", "client", "store"}
        for helper in ("kernels", "images", "oci", "network", "vmm", "disks", "guest", "doctor")
    },
}


def _banger_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("banger."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("banger."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_rules(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _banger_imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert offenders == []


def test_nothing_imports_the_daemon() -> None:
    for path in SRC.rglob("*.py"):
        if "daemon" not in path.relative_to(SRC).parts:
            assert "daemon" not in _banger_imports(path), path
