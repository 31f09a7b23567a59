"""Shared verb plumbing: host paths made absolute, operations followed, results printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from banger.cli.context import state
from banger.cli.output import print_json


def host_path(value: Path | None) -> str | None:
    """The daemon has another working directory: send it absolute paths only."""
    return str(value.expanduser().absolute()) if value is not None else None


def run_operation(
    ctx: typer.Context, path: str, body: dict[str, Any], *, as_json: bool
) -> dict[str, Any]:
    """POST an operation, follow it live (bars unless JSON), return its result."""
    from banger.cli.progress import follow  # rich progress: only for operations

    st = state(ctx)
    op = st.client.post(path, {k: v for k, v in body.items() if v is not None})
    done = follow(st.client, op, quiet=as_json)
    result = done.result or {}
    if as_json:
        print_json(result)
    return result
