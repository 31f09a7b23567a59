import os
import time
from pathlib import Path

import pytest

from banger import proc
from banger.errors import Cancelled, CommandFailed, FailedPrecondition, Unavailable


def test_run_captures_and_checks() -> None:
    assert proc.run(["sh", "-c", "echo out; echo err >&2"]).stdout == "out\n"
    with pytest.raises(CommandFailed) as err:
        proc.run(["sh", "-c", "echo first >&2; echo last words >&2; exit 3"])
    assert err.value.returncode == 3 and "exit code 3" in err.value.message
    assert "last words" in err.value.message


def test_missing_tool_names_the_package() -> None:
    with pytest.raises(FailedPrecondition, match="not found"):
        proc.run(["definitely-not-a-tool-banger"])


def test_arguments_never_reach_a_shell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    out = proc.run(["echo", f"$(touch {marker}); `touch {marker}`"])
    assert "$(touch" in out.stdout and not marker.exists()


def test_stream_delivers_lines_live_and_checks_exit(tmp_path: Path) -> None:
    # The tool prints "two" only after the callback has seen "one": if lines were delivered
    # at exit instead of live, this would hang until the timeout and fail.
    go = tmp_path / "go"
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        go.touch()

    proc.stream(
        ["sh", "-c", f"echo one; while [ ! -e {go} ]; do sleep 0.05; done; echo two"],
        on_line,
        timeout=30,
    )
    assert seen == ["one", "two"]
    with pytest.raises(CommandFailed, match="exit code 4"):
        proc.stream(["sh", "-c", "echo bad >&2; exit 4"], lambda _: None, timeout=30)


def test_stream_cancel_and_timeout_kill_the_process_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "grandchild"
    script = f"sleep 60 & echo $! > {pidfile}; echo started; wait"
    with pytest.raises(Cancelled):
        proc.stream(
            ["sh", "-c", script], lambda _: None, timeout=30, cancelled=lambda: pidfile.exists()
        )
    grandchild = int(pidfile.read_text())
    time.sleep(0.2)
    assert (
        not os.path.exists(f"/proc/{grandchild}")
        or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]
    )
    with pytest.raises(Unavailable, match="did not finish"):
        proc.stream(["sleep", "30"], lambda _: None, timeout=0.5)
