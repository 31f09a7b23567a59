"""`banger daemon stop|status` find the daemon through its socket, however it was started.

Every daemon here runs on a temporary socket; the CLI's pidfile is the one beside that
socket, so the host's own bangerd (/run/banger/bangerd.sock) is never looked at.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import BIN, make_daemon

pytestmark = pytest.mark.integration


def _banger(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "banger"), "--socket", str(sock), "daemon", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _answers(sock: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(sock))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _one_line(text: str) -> str:
    assert text.strip().count("\n") == 0, text
    return text.strip()


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever is still alive at the end is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _spawn(procs: list[subprocess.Popen[str]], argv: list[str]) -> subprocess.Popen[str]:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_stop_stops_a_bangerd_started_directly(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path / "d")
    daemon.start()  # bangerd itself, not `banger daemon start`: no pidfile anywhere
    try:
        assert daemon.proc is not None
        pid = daemon.proc.pid
        out = _banger(daemon.socket, "status")
        assert out.returncode == 0, out.stderr
        assert f"bangerd is running on {daemon.socket} (pid {pid})" in out.stdout

        out = _banger(daemon.socket, "stop")
        assert out.returncode == 0, out.stderr
        assert _one_line(out.stdout) == f"bangerd (pid {pid}) stopped"
        # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught.
        assert daemon.proc.wait(timeout=5) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in daemon.log.read_text()
        assert not _answers(daemon.socket)

        out = _banger(daemon.socket, "status")
        assert out.returncode == 1
        assert _one_line(out.stdout) == f"bangerd is not reachable on {daemon.socket}"
        out = _banger(daemon.socket, "stop")  # idempotent
        assert out.returncode == 0, out.stderr
        assert _one_line(out.stdout) == f"bangerd is not running on {daemon.socket}"
    finally:
        daemon.stop()


def test_stop_refuses_a_socket_served_by_something_else(
    tmp_path: Path, spawned: list[subprocess.Popen[str]]
) -> None:
    sock = tmp_path / "bangerd.sock"
    server = (
        "import socket,sys,time;s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);"
        "s.listen();print('ready',flush=True);time.sleep(300)"
    )
    impostor = _spawn(spawned, [sys.executable, "-c", server, str(sock)])
    sock.with_suffix(".pid").write_text(f"{impostor.pid}\n")  # a pidfile pointing at it, too

    for verb in ("stop", "status"):
        out = _banger(sock, verb)
        assert out.returncode == 1, out.stdout
        line = _one_line(out.stderr)
        assert f"is served by pid {impostor.pid}" in line and "which is not bangerd" in line
        assert "hint:" in line
    time.sleep(0.2)
    assert impostor.poll() is None  # never signalled
    assert _answers(sock)


def test_stale_pidfile_is_removed_and_its_pid_left_alone(
    tmp_path: Path, spawned: list[subprocess.Popen[str]]
) -> None:
    sock = tmp_path / "bangerd.sock"
    pidfile = sock.with_suffix(".pid")
    bystander = _spawn(
        spawned, [sys.executable, "-c", "import time;print('ready',flush=True);time.sleep(300)"]
    )
    pidfile.write_text(f"{bystander.pid}\n")
    out = _banger(sock, "stop")
    assert out.returncode == 0, out.stderr
    assert _one_line(out.stdout) == f"bangerd is not running on {sock}"
    assert not pidfile.exists()
    assert bystander.poll() is None

    pidfile.write_text("garbage\n")
    assert _banger(sock, "stop").returncode == 0 and not pidfile.exists()


# A stand-in for bangerd: named `bangerd`, it answers /v1/version on the socket. It can
# report a pid of its choosing and ignore SIGTERM, which a real daemon cannot be made to do.
FAKE_BANGERD = """#!{python}
import http.server, json, os, signal, socketserver, sys
sock, reported, ignore_term = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"version": "0", "python": "3", "pid": reported or os.getpid()}})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass

server = socketserver.UnixStreamServer(sock, Handler)
print("ready", flush=True)
server.serve_forever()
"""


def _fake_bangerd(
    tmp_path: Path, procs: list[subprocess.Popen[str]], *, reported: int = 0, ignore_term: bool
) -> tuple[Path, subprocess.Popen[str]]:
    script = tmp_path / "bin" / "bangerd"
    script.parent.mkdir(exist_ok=True)
    script.write_text(FAKE_BANGERD.format(python=sys.executable))
    script.chmod(0o755)
    sock = tmp_path / "fake.sock"
    return sock, _spawn(procs, [str(script), str(sock), str(reported), str(int(ignore_term))])


def test_a_daemon_ignoring_sigterm_is_a_clear_error_then_force_kills_it(
    tmp_path: Path, spawned: list[subprocess.Popen[str]]
) -> None:
    sock, fake = _fake_bangerd(tmp_path, spawned, ignore_term=True)
    out = _banger(sock, "stop", "--timeout", "1")
    assert out.returncode == 1
    line = _one_line(out.stderr)
    assert f"bangerd (pid {fake.pid}) did not exit within 1s of SIGTERM" in line
    assert "--force" in line
    assert fake.poll() is None

    out = _banger(sock, "stop", "--timeout", "1", "--force")
    assert out.returncode == 0, out.stderr
    assert f"bangerd (pid {fake.pid}) killed" in out.stdout
    assert fake.wait(timeout=5) == -signal.SIGKILL


def test_a_daemon_reporting_another_pid_is_not_signalled(
    tmp_path: Path, spawned: list[subprocess.Popen[str]]
) -> None:
    sock, fake = _fake_bangerd(tmp_path, spawned, reported=os.getpid(), ignore_term=False)
    out = _banger(sock, "stop")
    assert out.returncode == 1
    line = _one_line(out.stderr)
    assert f"says it is pid {os.getpid()}, but the socket is held by pid {fake.pid}" in line
    time.sleep(0.2)
    assert fake.poll() is None


def test_stop_needs_root(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            *("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"),
            *(str(BIN / "banger"), "--socket", str(tmp_path / "bangerd.sock"), "daemon", "stop"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert _one_line(out.stderr) == "error: this needs root (hint: run it with sudo)"
