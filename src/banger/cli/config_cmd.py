"""`banger config show|check` (`show` also prints the config file's path)."""

from __future__ import annotations

from pathlib import Path

import typer

from banger.cli.context import JSON_OPTION, state, wants_json
from banger.cli.output import print_fields, print_json
from banger.config import user_config_path

app = typer.Typer(help="Show and check banger's configuration.")


@app.command()
def show(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """Show the effective user configuration."""
    cfg = state(ctx).config
    data = {
        "path": str(state(ctx).config_path or user_config_path()),
        **cfg.as_json(),
    }
    print_json(data) if wants_json(ctx, json) else print_fields(data)


@app.command()
def check(
    ctx: typer.Context,
    daemon_config: Path | None = typer.Option(
        None, "--daemon", help="also check this daemon config"
    ),
) -> None:
    """Validate the user config (and a daemon config): one line per problem."""
    _ = state(ctx).config  # loading validates
    if daemon_config is not None:
        from banger.config import load_daemon_config  # pydantic: only for this flag

        load_daemon_config(daemon_config)
    typer.echo("configuration is valid")
