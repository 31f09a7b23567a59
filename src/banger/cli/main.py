"""`banger`: the command line. Verbs are thin: flags → one client call → output."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from banger import __version__
from banger.cli import config_cmd, daemon, image, kernel, ops, vm
from banger.cli.context import CliState
from banger.cli.doctor import doctor
from banger.cli.output import print_error, print_json
from banger.errors import BangerError

app = typer.Typer(
    name="banger",
    help="banger: fast, isolated Linux microVMs on your machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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
    st: CliState = ctx.obj
    daemon_version: str | None
    _ = st.config  # a broken config is an error even here
    try:
        daemon_version = st.client.get("/version")["version"]
    except BangerError:
        daemon_version = None
    if json or st.json:
        print_json({"cli": __version__, "daemon": daemon_version})
    else:
        typer.echo(f"banger {__version__} (daemon: {daemon_version or 'not reachable'})")


def main() -> None:
    """Usage errors are typer's (usage line, exit 2); banger errors are one line, exit 1."""
    try:
        app()
    except BangerError as exc:
        print_error(exc.one_line())
        sys.exit(1)
