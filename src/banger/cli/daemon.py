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

from banger import proc
from banger.cli.context import state
from banger.client.daemon_process import locate_daemon, process_is_bangerd, wait_unanswered
from banger.errors import BangerError, FailedPrecondition, PermissionDenied, Unavailable

app = typer.Typer(help="Run, install and control the bangerd daemon.")

UNIT_SOURCE = Path(__file__).resolve().parents[3] / "packaging" / "bangerd.service"
UNIT_TARGET = Path("/etc/systemd/system/bangerd.service")
LOGFILE = Path("/var/log/banger/bangerd.log")


def pidfile_for(socket_path: Path) -> Path:
    """Where `daemon start` records its child: beside the socket (/run/banger/bangerd.pid).

    Only a hint for cleanup: `stop` finds the daemon through the socket itself.
    """
    return socket_path.with_suffix(".pid")


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
    st = state(ctx)
    if _reachable(ctx):
        typer.echo("bangerd is already running")
        return
    if _has_systemd() and UNIT_TARGET.exists():
        proc.run(["systemctl", "start", "bangerd"], hint="see journalctl -u bangerd")
    else:
        argv = [_bangerd()]
        if st.socket_override is not None:
            argv += ["--socket", str(st.socket_override)]
        pidfile = pidfile_for(st.socket_path)
        LOGFILE.parent.mkdir(parents=True, exist_ok=True)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(LOGFILE, "ab") as log:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        pidfile.write_text(f"{child.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reachable(ctx):
            typer.echo(f"bangerd is running on {st.socket_path}")
            return
        time.sleep(0.2)
    raise Unavailable("bangerd did not come up", hint=f"look at {LOGFILE} or journalctl -u bangerd")


def _unit_main_pid() -> int | None:
    """The pid of the installed systemd unit's daemon, if the unit runs."""
    if not (_has_systemd() and UNIT_TARGET.exists()):
        return None
    out = proc.run(["systemctl", "show", "--property=MainPID", "--value", "bangerd"], check=False)
    try:
        return int(out.stdout.strip()) or None
    except ValueError:
        return None


def _forget_pidfile(pidfile: Path) -> None:
    """Remove the pidfile unless it names a live bangerd (which then is not ours to judge)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid > 0 and process_is_bangerd(pid):
        typer.echo(
            f"note: {pidfile} names bangerd pid {pid}, which does not serve this socket; "
            "left alone",
            err=True,
        )
        return
    pidfile.unlink(missing_ok=True)


def _stop(ctx: typer.Context, timeout: float, force: bool) -> str:
    """Stop whatever bangerd answers on the socket; a line saying what happened."""
    sock = state(ctx).socket_path
    with locate_daemon(sock) as daemon:
        if daemon is None:
            _forget_pidfile(pidfile_for(sock))
            return f"bangerd is not running on {sock}"
        pid = daemon.pid
        if _unit_main_pid() == pid:
            proc.run(
                ["systemctl", "stop", "--no-block", "bangerd"], hint="see journalctl -u bangerd"
            )
        else:
            daemon.send(signal.SIGTERM)
        how = "stopped"
        if not daemon.exited(timeout):
            if not force:
                raise Unavailable(
                    f"bangerd (pid {pid}) did not exit within {timeout:g}s of SIGTERM",
                    hint=f"see its log; kill it with `sudo banger daemon stop --force` "
                    f"(or kill -KILL {pid}); VMs keep running either way",
                )
            daemon.send(signal.SIGKILL)
            if not daemon.exited(10):
                raise Unavailable(
                    f"bangerd (pid {pid}) survived SIGKILL",
                    hint=f"it is stuck in the kernel: look at /proc/{pid}/stack",
                )
            how = f"killed (it ignored SIGTERM for {timeout:g}s)"
    _forget_pidfile(pidfile_for(sock))
    other = wait_unanswered(sock, 5.0)
    if other is not None:
        raise Unavailable(
            f"bangerd (pid {pid}) {how}, but {sock} is answered again, by pid {other}",
            hint="something restarts it: is it the systemd unit? (systemctl stop bangerd)",
        )
    return f"bangerd (pid {pid}) {how}"


@app.command()
def stop(
    ctx: typer.Context,
    timeout: float = typer.Option(30.0, help="seconds to wait for it to exit"),
    force: bool = typer.Option(False, "--force", help="SIGKILL it if it has not exited in time"),
) -> None:
    """Stop the bangerd answering on the socket, however it was started.

    Running VMs keep running and are reattached at the next start.
    """
    _require_root()
    typer.echo(_stop(ctx, timeout, force))


@app.command()
def status(ctx: typer.Context) -> None:
    """Say whether bangerd answers on its socket (and which process it is)."""
    sock = state(ctx).socket_path
    with locate_daemon(sock) as daemon:
        if daemon is None:
            typer.echo(f"bangerd is not reachable on {sock}")
            raise typer.Exit(1)
        typer.echo(f"bangerd is running on {sock} (pid {daemon.pid})")


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
    proc.run(["systemctl", "daemon-reload"])
    proc.run(["systemctl", "enable", "--now", "bangerd"], hint="see journalctl -u bangerd")
    typer.echo("bangerd installed and started")


@app.command()
def uninstall(ctx: typer.Context) -> None:
    """Remove banger's bridge and NAT table, stop bangerd and remove its unit."""
    _require_root()
    if _reachable(ctx):
        state(ctx).client.post("/network/teardown")
    typer.echo(_stop(ctx, timeout=30.0, force=False))
    if _has_systemd() and UNIT_TARGET.exists():
        proc.run(["systemctl", "disable", "--now", "bangerd"], check=False)
        UNIT_TARGET.unlink()
        proc.run(["systemctl", "daemon-reload"], check=False)
    typer.echo("bangerd uninstalled (state in the state dir is kept)")
