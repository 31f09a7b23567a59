"""The CLI's ssh tooling goes through banger.proc: a broken tool is one error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from banger import proc
from banger.errors import FailedPrecondition

CLI = "from banger.cli.main import main; main()"


def _fake_tool(bindir: Path, name: str, script: str) -> None:
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def _banger(tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BANGER_CONFIG"}
    env |= {"PATH": path, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_failing_ssh_keygen_is_one_error_line(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    _fake_tool(bindir, "ssh-keygen", "echo 'Saving key failed: disk on fire' >&2; exit 1")
    result = _banger(tmp_path, str(bindir), "vm", "create", "--name", "x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ssh-keygen failed with exit code 1: Saving key failed: disk on fire" in lines[0]
    assert "ssh_key_path" in lines[0]  # the hint names the way out


def test_a_missing_ssh_keygen_names_its_package(tmp_path: Path) -> None:
    result = _banger(tmp_path, str(tmp_path / "empty"), "vm", "create", "--name", "x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'ssh-keygen' was not found" in lines[0] and "openssh-client" in lines[0]


def test_exec_replace_names_the_package_of_a_missing_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FailedPrecondition) as err:
        proc.exec_replace(["ssh", "root@192.0.2.1"])
    assert "openssh-client" in err.value.one_line()


def test_exec_replace_becomes_the_tool() -> None:
    code = "from banger import proc; proc.exec_replace(['sh', '-c', 'echo replaced; exit 7'])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (7, "replaced\n")


def test_run_attached_passes_the_terminal_and_the_exit_code(
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert proc.run_attached(["sh", "-c", "echo to-the-user; exit 3"]) == 3
    assert capfd.readouterr().out == "to-the-user\n"
