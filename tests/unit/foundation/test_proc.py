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


def test_run_keeps_head_and_tail_of_a_flood_within_the_cap() -> None:
    # 200 MB on stdout (and a little on stderr): captured output must stay within the cap.
    script = "printf BEGIN; head -c 200000000 /dev/zero; printf END; echo oops >&2; exit 1"
    result = proc.run(["sh", "-c", script], check=False)
    assert result.returncode == 1 and result.stderr == "oops\n"
    assert len(result.stdout) <= proc.MAX_CAPTURE_BYTES + 200
    assert result.stdout.startswith("BEGIN") and result.stdout.endswith("END")
    dropped = 200_000_008 - proc.MAX_CAPTURE_BYTES
    assert f"[banger: {dropped} bytes of this output were dropped here" in result.stdout
    small = proc.run(
        ["sh", "-c", "printf abc; head -c 100000 /dev/zero; printf xyz"], max_output=64
    )
    assert small.stdout.startswith("abc") and small.stdout.endswith("xyz")
    assert "99942 bytes of this output were dropped" in small.stdout  # 100006 - 64
    assert len(small.stdout) < 64 + 120


def test_run_feeds_input_and_keeps_short_output_whole() -> None:
    assert proc.run(["cat"], input="a\r\nb\n").stdout == "a\nb\n"
    assert proc.run(["cat"], input=b"\x00\xff", text=False).stdout == "\x00\ufffd"
    with pytest.raises(Unavailable, match=r"did not finish within 0\.3 seconds"):
        proc.run(["sleep", "30"], timeout=0.3)


def test_stream_hands_a_giant_line_over_in_bounded_pieces() -> None:
    sizes: list[int] = []
    proc.stream(
        ["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo done"],
        lambda line: sizes.append(len(line)),
        timeout=60,
    )
    assert max(sizes) <= proc.MAX_STREAM_LINE and sum(sizes) == 5_000_000 + 4


def test_a_failed_tool_with_a_giant_last_line_gives_a_short_message() -> None:
    with pytest.raises(CommandFailed) as err:
        proc.run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' e >&2; exit 2"])
    assert err.value.message.startswith("sh failed with exit code 2: ...eee")
    assert len(err.value.message) < 1100
