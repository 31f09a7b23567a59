"""Build and tool artefacts are never tracked (.gitignore keeps new ones out)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[3]

ARTEFACT_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".mypy_cache"}
TOP_LEVEL_ONLY = {"build", "dist"}


def is_artefact(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        any(part in ARTEFACT_DIRS or part.endswith(".egg-info") for part in parts)
        or parts[0] in TOP_LEVEL_ONLY
        or path.endswith((".pyc", ".pyo"))
    )


def _tracked() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {result.stderr.strip()}")
    return [path for path in result.stdout.split("\0") if path]


def test_no_build_artefact_is_tracked() -> None:
    assert [path for path in _tracked() if is_artefact(path)] == []


@pytest.mark.parametrize(
    ("path", "artefact"),
    [
        ("src/banger.egg-info/PKG-INFO", True),
        ("src/banger/__pycache__/proc.cpython-311.pyc", True),
        ("stray.pyc", True),
        ("build/lib/banger/proc.py", True),
        ("dist/banger-0.1.0.tar.gz", True),
        (".venv/bin/python", True),
        (".ruff_cache/CACHEDIR.TAG", True),
        ("src/banger/proc.py", False),
        ("docs/build.md", False),
        ("tests/unit/images/test_build_disk.py", False),
    ],
)
def test_what_counts_as_an_artefact(path: str, artefact: bool) -> None:
    assert is_artefact(path) is artefact
