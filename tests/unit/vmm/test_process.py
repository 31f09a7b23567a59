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


def _wait_for_line(path: Path, line: str) -> None:
    deadline = time.monotonic() + 10
    while line not in path.read_text():
        assert time.monotonic() < deadline, f"{line!r} never appeared in {path}"
        time.sleep(0.01)


def test_spawn_detached_survives_in_its_own_session_and_terminates(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    log = tmp_path / "log"
    # The shell survives SIGTERM (its trap only logs it), so terminate must escalate.
    ident = process.spawn_detached(
        ["sh", "-c", "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.1; done", marker],
        log_path=log,
        cwd=tmp_path,
    )
    try:
        _wait_for_line(log, "ready")  # a TERM before the trap is set would simply kill it
        assert os.getsid(ident.pid) == ident.pid  # new session leader
        assert process.is_same_process(ident.pid, ident.start_time, ident.exe, marker)
        process.terminate(ident.pid, ident.start_time, ident.exe, marker, term_timeout=0.5)
        assert not process.is_same_process(ident.pid, ident.start_time, ident.exe, marker)
        assert "got-term" in log.read_text()  # TERM came first and was survived: KILL ended it
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


def test_a_launcher_exec_ing_into_the_vmm_stays_the_same_process(tmp_path: Path) -> None:
    """Polled through a chain of execs (as a wrapper script does), a launcher never looks gone.

    Mid-execve /proc shows no exe and an empty cmdline for a moment; the start-time check
    must not read that as "the VMM exited" (this once failed a CI run).
    """
    marker = str(tmp_path / "sock")
    chain = "exec sh -c 'exec sh -c \"exec sleep 2\" x' y"
    for _ in range(20):
        ident = process.spawn_detached(
            ["sh", "-c", chain, marker], log_path=tmp_path / "log", cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                assert process.is_same_process(ident.pid, ident.start_time, None, marker)
        finally:
            process.kill_now(ident.pid, ident.start_time, None, marker)
        assert not process.is_same_process(ident.pid, ident.start_time, None, marker)
