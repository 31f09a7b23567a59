import os
import signal
import subprocess
import time
from pathlib import Path

from banger.vmm import process


def test_identify_this_process() -> None:
    ident = process.identify(os.getpid())
    assert ident is not None
    assert ident.exe == os.path.realpath("/proc/self/exe")
    assert ident.start_time == process.read_start_time(os.getpid())
    assert process.is_same_process(os.getpid(), ident.start_time, ident.exe, ident.cmdline[0])
    assert not process.is_same_process(os.getpid(), ident.start_time + 1, ident.exe, "")
    assert not process.is_same_process(os.getpid(), ident.start_time, "/bin/other", "")
    assert not process.is_same_process(os.getpid(), ident.start_time, ident.exe, "no-such-arg\0")


def test_zombie_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while process.read_start_time(child.pid) is not None and time.monotonic() < deadline:
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] == "Z":
            break
        time.sleep(0.01)
    assert process.identify(child.pid) is None  # a zombie has no identity
    child.wait()


def test_spawn_detached_survives_in_its_own_session_and_terminates(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    # `sh -c` ignores SIGTERM here via trap, so terminate must escalate to SIGKILL.
    ident = process.spawn_detached(
        ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done", marker],
        log_path=tmp_path / "log",
        cwd=tmp_path,
    )
    try:
        assert os.getsid(ident.pid) == ident.pid  # new session leader
        assert process.is_same_process(ident.pid, ident.start_time, ident.exe, marker)
        started = time.monotonic()
        process.terminate(ident.pid, ident.start_time, ident.exe, marker, term_timeout=0.5)
        assert 0.4 < time.monotonic() - started < 10
        assert not process.is_same_process(ident.pid, ident.start_time, ident.exe, marker)
    finally:
        if process.is_same_process(ident.pid, ident.start_time, ident.exe, marker):
            os.kill(ident.pid, signal.SIGKILL)


def test_signal_refuses_a_process_with_the_wrong_start_time(tmp_path: Path) -> None:
    ident = process.spawn_detached(["sleep", "30"], log_path=tmp_path / "log", cwd=tmp_path)
    try:
        sent = process.signal_process(
            ident.pid, ident.start_time - 1, ident.exe, "30", signal.SIGKILL
        )
        assert not sent
        assert process.is_same_process(ident.pid, ident.start_time, ident.exe, "30")
    finally:
        process.kill_now(ident.pid, ident.start_time, ident.exe, "30")
    assert process.identify(ident.pid) is None
