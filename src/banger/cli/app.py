"""The typer app: root options, every verb group, and usage errors and help.

Built only when cli.quick did not take the command line (see cli.main).
"""

from __future__ import annotations

from pathlib import Path

import typer

from banger.cli import config_cmd, daemon, image, kernel, ops, views, vm
from banger.cli.context import CliState, state
from banger.cli.doctor import doctor

app = typer.Typer(
    name="banger",
    help="banger: fast, isolated Linux microVMs on your machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help and usage errors: typer's rich ones import rich.markdown and friends
    # (~100 ms) on every --help and every mistyped flag.
    rich_markup_mode=None,
)
app.add_typer(vm.app, name="vm")
app.add_typer(kernel.app, name="kernel")
app.add_typer(image.app, name="image")
app.add_typer(ops.app, name="ops")
app.add_typer(daemon.app, name="daemon")
app.add_typer(config_cmd.app, name="config")
app.command()(doctor)


@app.callback()
def _root(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="machine-readable JSON output"),
    config: Path | None = typer.Option(
        None, "--config", help="user config file (or BANGER_CONFIG)"
    ),
    socket: Path | None = typer.Option(None, "--socket", help="bangerd socket path"),
) -> None:
    ctx.obj = CliState(json=json, config_path=config, socket_override=socket)


@app.command()
def version(ctx: typer.Context, json: bool = typer.Option(False, "--json")) -> None:
    """Print the CLI version (and the daemon's, when it answers)."""
    st = state(ctx)
    views.version(st, as_json=json or st.json)
