"""ARCHITECTURE.md: external tools run only through banger.proc (two documented exceptions)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "banger"

# The runner itself; the VMM spawner (a long-lived process with its own pidfile and log);
# the CLI starting banger's own daemon (`daemon run` execs it, `daemon start` spawns it).
EXCEPTIONS = {"proc.py", "vmm/process.py", "cli/daemon.py"}

SPAWNERS = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput"},
    "os": {"system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp"},
    "pty": {"spawn", "fork"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
}


def _spawns(tree: ast.AST) -> list[str]:
    """Every subprocess/os/pty/asyncio spawn call or import of one, as 'module.name'."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module, name = node.value.id, node.attr
        elif isinstance(node, ast.ImportFrom) and node.module in SPAWNERS and not node.level:
            found += [
                f"{node.module}.{a.name}" for a in node.names if _spawner(node.module, a.name)
            ]
            continue
        else:
            continue
        if _spawner(module, name):
            found.append(f"{module}.{name}")
    return found


def _spawner(module: str, name: str) -> bool:
    if module == "os" and name.startswith(("exec", "spawn")):
        return True
    return name in SPAWNERS.get(module, set())


def test_only_proc_runs_external_tools() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in EXCEPTIONS:
            continue
        offenders += [f"{rel}: {call}" for call in _spawns(ast.parse(path.read_text()))]
    assert offenders == []


def test_the_scan_sees_every_form() -> None:
    source = (
        "import os, subprocess\nfrom subprocess import Popen\n"
        "subprocess.run(['x'])\nos.execvp('ssh', [])\nos.system('x')\n"
        "subprocess.SubprocessError\n"
    )
    assert sorted(_spawns(ast.parse(source))) == [
        "os.execvp",
        "os.system",
        "subprocess.Popen",
        "subprocess.run",
    ]
