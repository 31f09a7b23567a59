"""With no bangerd on the socket, the client and every quick verb say so in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from banger import errors
from banger.client import Client
from tests.helpers.daemon import BIN


@pytest.mark.parametrize("kind", ["missing", "not a socket"])
def test_client_without_a_daemon_says_so(tmp_path: Path, kind: str) -> None:
    socket = tmp_path / "bangerd.sock"
    if kind == "not a socket":
        socket.write_text("")  # a stale file where the socket was
    with Client(socket) as c, pytest.raises(errors.Unavailable) as down:
        c.get("/vms")
    assert str(socket) in down.value.message and "daemon start" in (down.value.hint or "")


@pytest.mark.parametrize(
    "args",
    [
        ("vm", "list"),
        ("image", "list"),
        ("kernel", "list"),
        ("ops", "list"),
        ("--json", "vm", "show", "x"),
        ("vm", "delete", "x"),
    ],
)
def test_a_stopped_daemon_is_one_clear_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    socket = tmp_path / "none.sock"
    out = subprocess.run(
        [str(BIN / "banger"), "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0, out.stderr
    assert out.stderr.startswith(f"error: bangerd is not reachable at {socket}")
    assert "hint: start it with" in out.stderr
