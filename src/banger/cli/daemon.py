"""`banger daemon run|start|stop|status|install|uninstall`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from banger.cli.context import state
from banger.errors import BangerError, FailedPrecondition, PermissionDenied, Unavailable

app = typer.Typer(help="Run, install and control the bangerd daemon.")

UNIT_SOURCE = Path(__file__).resolve().parents[3] / "packaging" / "bangerd.service"
UNIT_TARGET = Path("/etc/systemd/system/bangerd.service")
PIDFILE = Path("/run/banger/bangerd.pid")
LOGFILE = Path("/var/log/banger/bangerd.log")


def _bangerd() -> str:
    sibling = Path(sys.argv[0]).resolve().parent / "bangerd"
    found = str(sibling) if sibling.exists() else shutil.which("bangerd")
    if found is None:
        raise FailedPrecondition(
            "bangerd is not installed", hint="reinstall banger: ./scripts/setup"
        )
    return found


def _has_systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _require_root() -> None:
    if os.geteuid() != 0:
        raise PermissionDenied("this needs root", hint="run it with sudo")


def _reachable(ctx: typer.Context) -> bool:
    try:
        state(ctx).client.get("/version")
        return True
    except BangerError:
        return False


@app.command()
def run(
    config: Path | None = typer.Option(None, help="daemon config file"),
    socket: Path | None = typer.Option(None, help="socket path override"),
    state_dir: Path | None = typer.Option(None, help="state dir override"),
) -> None:
    """Run bangerd in the foreground (what the systemd unit runs)."""
    argv = [_bangerd()]
    for flag, value in (("--config", config), ("--socket", socket), ("--state-dir", state_dir)):
        if value is not None:
            argv += [flag, str(value)]
    os.execv(argv[0], argv)


@app.command()
def start(ctx: typer.Context, timeout: float = typer.Option(20.0, help="seconds to wait")) -> None:
    """Start bangerd (through systemd where it runs, else as a background process)."""
    _require_root()
    if _reachable(ctx):
        typer.echo("bangerd is already running")
        return
    if _has_systemd() and UNIT_TARGET.exists():
        subprocess.run(["systemctl", "start", "bangerd"], check=True)
    else:
        LOGFILE.parent.mkdir(parents=True, exist_ok=True)
        PIDFILE.parent.mkdir(parents=True, exist_ok=True)
        with open(LOGFILE, "ab") as log:
            child = subprocess.Popen(
                [_bangerd()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        PIDFILE.write_text(f"{child.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reachable(ctx):
            typer.echo(f"bangerd is running on {state(ctx).socket_path}")
            return
        time.sleep(0.2)
    raise Unavailable("bangerd did not come up", hint=f"look at {LOGFILE} or journalctl -u bangerd")


@app.command()
def stop(ctx: typer.Context) -> None:
    """Stop bangerd. Running VMs keep running and are reattached at the next start."""
    _require_root()
    if _has_systemd() and UNIT_TARGET.exists():
        subprocess.run(["systemctl", "stop", "bangerd"], check=True)
        return
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        typer.echo("bangerd is not running")
        return
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    PIDFILE.unlink(missing_ok=True)
    typer.echo("bangerd stopped")


@app.command()
def status(ctx: typer.Context) -> None:
    """Say whether bangerd answers on its socket."""
    if _reachable(ctx):
        typer.echo(f"bangerd is running on {state(ctx).socket_path}")
    else:
        typer.echo(f"bangerd is not reachable on {state(ctx).socket_path}")
        raise typer.Exit(1)


@app.command()
def install(ctx: typer.Context) -> None:
    """Install and enable the systemd unit (packaging/bangerd.service)."""
    _require_root()
    if not _has_systemd():
        raise FailedPrecondition(
            "systemd is not running on this host",
            hint="start the daemon with `banger daemon start` instead",
        )
    unit = UNIT_SOURCE.read_text().replace("@BANGERD@", _bangerd())
    UNIT_TARGET.write_text(unit)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", "--now", "bangerd"], check=True)
    typer.echo("bangerd installed and started")


@app.command()
def uninstall(ctx: typer.Context) -> None:
    """Remove banger's bridge and NAT table, stop bangerd and remove its unit."""
    _require_root()
    if _reachable(ctx):
        state(ctx).client.post("/network/teardown")
    if _has_systemd() and UNIT_TARGET.exists():
        subprocess.run(["systemctl", "disable", "--now", "bangerd"], check=False)
        UNIT_TARGET.unlink()
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    else:
        stop(ctx)
    typer.echo("bangerd uninstalled (state in the state dir is kept)")
