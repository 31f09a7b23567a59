"""Finding the process behind bangerd's socket: argv recognition and the socket peer."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.cli.daemon import pidfile_for
from banger.client.daemon_process import (
    is_bangerd_argv,
    locate_daemon,
    process_is_bangerd,
    socket_peer_pid,
    wait_unanswered,
)
from banger.errors import FailedPrecondition


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/local/bin/bangerd"],
        ["bangerd", "--config", "/etc/banger/config.toml"],
        ["/opt/banger/venv/bin/python", "/opt/banger/venv/bin/bangerd"],
        ["/usr/bin/python3.11", "-u", "/usr/local/bin/bangerd", "--socket", "/x.sock"],
        ["python3", "-X", "dev", "/opt/banger/venv/bin/bangerd"],
        ["python3", "-m", "banger.daemon.main", "--log-level", "debug"],
        ["python3", "-mbanger.daemon.main"],
    ],
)
def test_bangerd_command_lines_are_recognised(argv: list[str]) -> None:
    assert is_bangerd_argv(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["/usr/bin/python3", "-c", "import bangerd"],
        ["python3", "server.py", "bangerd"],
        ["python3", "-m", "http.server"],
        ["python3", "-m", "banger.cli.main", "daemon", "stop"],
        ["/opt/banger/venv/bin/banger", "daemon", "run"],
        ["/usr/bin/sleep", "bangerd"],
        ["python3", "-X", "bangerd", "x.py"],
    ],
)
def test_other_command_lines_are_not_bangerd(argv: list[str]) -> None:
    assert not is_bangerd_argv(argv)


def test_pidfile_sits_beside_the_socket() -> None:
    assert pidfile_for(Path("/run/banger/bangerd.sock")) == Path("/run/banger/bangerd.pid")
    assert pidfile_for(Path("/tmp/t/x.sock")) == Path("/tmp/t/x.pid")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen()
    try:
        yield path
    finally:
        sock.close()


def test_socket_peer_is_the_listening_process(listener: Path) -> None:
    assert socket_peer_pid(listener) == os.getpid()


def test_nothing_answers_on_a_missing_or_stale_socket(tmp_path: Path) -> None:
    assert socket_peer_pid(tmp_path / "missing.sock") is None
    stale = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()  # the file stays, nobody listens
    assert socket_peer_pid(stale) is None
    assert wait_unanswered(stale, 0.1) is None
    with locate_daemon(stale) as daemon:
        assert daemon is None


def test_a_socket_served_by_another_program_is_refused(listener: Path) -> None:
    with (
        pytest.raises(FailedPrecondition, match=rf"pid {os.getpid()} .*which is not bangerd"),
        locate_daemon(listener),
    ):
        pass


def test_process_is_bangerd_for_pidfile_checks() -> None:
    assert not process_is_bangerd(os.getpid())  # pytest
    assert not process_is_bangerd(2**22 + 1)  # above any pid_max: no such process
