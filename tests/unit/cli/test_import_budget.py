"""The quick paths' import budget: what `banger --help` and the quick verbs may load.

bench/cli measures the time; this pins the cause, deterministically, so it cannot creep
back (tests.helpers.cli_imports says what each module cost). tests/integration/client/
test_quick_verbs.py checks `vm list` and `vm show` against a real daemon the same way.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli_imports import HEAVY, TYPER, modules_loaded_by


def loaded_by(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    config = tmp_path / "config.toml"
    config.write_text(f'socket_path = "{tmp_path / "none.sock"}"\n')
    return modules_loaded_by(
        tmp_path, *args, env={"BANGER_CONFIG": str(config), "HOME": str(tmp_path)}
    )


def test_help_loads_typer_but_nothing_heavy(tmp_path: Path) -> None:
    modules, result = loaded_by(tmp_path, "--help")
    assert result.returncode == 0 and "Commands:" in result.stdout, result.stderr
    assert "typer" in modules  # the help is typer's own
    assert not modules & HEAVY, sorted(modules & HEAVY)


@pytest.mark.parametrize("args", [("vm", "--help"), ("kernel", "--help"), ("image", "--help")])
def test_group_help_loads_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules, result = loaded_by(tmp_path, *args)
    assert result.returncode == 0 and "Commands:" in result.stdout, result.stderr
    assert not modules & HEAVY, sorted(modules & HEAVY)


@pytest.mark.parametrize("args", [("version",), ("--json", "version"), ("version", "--json")])
def test_version_loads_neither_typer_nor_anything_heavy(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules, result = loaded_by(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    if "--json" in args:
        assert json.loads(result.stdout)["daemon"] is None  # no daemon on that socket
    else:
        assert result.stdout.startswith("banger ") and "not reachable" in result.stdout
    assert not modules & (HEAVY | TYPER), sorted(modules & (HEAVY | TYPER))


def test_a_usage_error_is_still_typers(tmp_path: Path) -> None:
    """A line the quick path does not take goes to typer: usage line, exit 2, no heavy help."""
    modules, result = loaded_by(tmp_path, "vm", "list", "--bogus")
    assert result.returncode == 2 and "No such option: --bogus" in result.stderr
    assert "typer" in modules and not modules & {"rich", "httpx"}
