"""Run the real `banger` entry point in a fresh interpreter and see which modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PROBE = """
import atexit, json, sys
out = sys.argv.pop(1)
sys.argv[0] = "banger"
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from banger.cli.main import main
main()
"""

# Each cost a quick verb tens of milliseconds when measured (python -X importtime, this
# host): pydantic ~55 ms (plus ~20 ms of plugin discovery through importlib.metadata at its
# first model), httpx ~85 ms, rich ~20 ms (~110 ms for typer's rich help), importlib.metadata
# ~70 ms. typer ~35 ms, and its parser builds a pydantic validator per parameter.
HEAVY = frozenset(
    {"pydantic", "pydantic_core", "httpx", "rich", "importlib.metadata", "banger.api.models"}
)
TYPER = frozenset({"typer", "banger.cli.app", "banger.cli.vm", "banger.cli.doctor"})


def modules_loaded_by(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    out = tmp_path / "modules.json"
    out.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return set(json.loads(out.read_text())), result
