"""The typer side of the per-invocation state (cli.state): find it, read --json."""

from __future__ import annotations

import typer

from banger.cli.state import CliState

__all__ = ["JSON_OPTION", "CliState", "state", "wants_json"]


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def wants_json(ctx: typer.Context, local: bool) -> bool:
    return local or state(ctx).json


JSON_OPTION = typer.Option(False, "--json", help="print machine-readable JSON (docs/cli-json.md)")
