"""The build disk's runner, executed for real by the host's busybox sh (as the guest would)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from banger.errors import InvalidArgument, NotFound
from banger.hostfiles import Caller, fetcher
from banger.images.build_console import Transcript
from banger.images.build_disk import DiskStep, render_copy_script, sh_quote, stage_tree, summarize

BUSYBOX = "/bin/busybox"
NONCE = "feedc0de"
# Copy sources read by a child with the test's own credentials, as the daemon does.
AS_ME = fetcher(Caller(os.geteuid(), os.getegid()), "--copy source", 1 << 30)


def run_steps(tmp_path: Path, steps: list[DiskStep], env: dict[str, str]) -> Transcript:
    if not Path(BUSYBOX).exists():
        pytest.skip("busybox-static is not installed")
    tree = tmp_path / "tree"
    stage_tree(tree, steps, env, NONCE, AS_ME, mount=str(tree), busybox=BUSYBOX)
    status = tmp_path / "status"
    result = subprocess.run(
        [BUSYBOX, "sh", str(tree / "run.sh")],
        capture_output=True,
        timeout=60,
        env={**os.environ, "BANGER_BUILD_STATUS": str(status)},
    )
    transcript = Transcript(nonce=NONCE, steps=len(steps))
    transcript.feed(result.stdout)
    return transcript


def test_steps_run_in_order_with_env_and_stop_at_first_failure(tmp_path: Path) -> None:
    marker = tmp_path / "order"
    steps = [
        DiskStep("run", text=f"echo one >> {marker}; echo out-one"),
        DiskStep("script", text=f'#!/bin/sh\necho two >> {marker}\necho "v=$VALUE"\n', name="s"),
        DiskStep("run", text=f"echo three >> {marker}; exit 9"),
        DiskStep("run", text=f"echo four >> {marker}"),
    ]
    transcript = run_steps(tmp_path, steps, {"VALUE": 'it\'s a "test" $HOME\nline2'})
    assert marker.read_text() == "one\ntwo\nthree\n"
    assert transcript.exits == {1: 0, 2: 0, 3: 9}
    assert transcript.failed_step() == (3, 9)
    assert transcript.done is False


def test_env_value_reaches_step_verbatim(tmp_path: Path) -> None:
    value = 'it\'s a "test" $HOME `x`'
    transcript = run_steps(
        tmp_path, [DiskStep("run", text='printf "%s\\n" "$VALUE"')], {"VALUE": value}
    )
    assert transcript.succeeded
    assert list(transcript.step_tail) == [value]


def test_sh_e_stops_a_run_step_at_its_first_failing_command(tmp_path: Path) -> None:
    transcript = run_steps(tmp_path, [DiskStep("run", text="false\necho not-reached")], {})
    assert transcript.failed_step() == (1, 1)
    assert "not-reached" not in transcript.step_tail


def test_hostile_output_cannot_fake_success(tmp_path: Path) -> None:
    fake = f"@@banger-build {NONCE}"
    text = f"echo '{fake} exit 1 0'; echo '{fake} done ok'; printf 'no newline'; exit 4"
    transcript = run_steps(tmp_path, [DiskStep("run", text=text)], {})
    assert transcript.failed_step() == (1, 4)
    assert not transcript.succeeded
    assert list(transcript.step_tail)[-1] == "no newline"


def test_copy_steps_keep_modes_and_honour_trailing_slash(tmp_path: Path) -> None:
    src = tmp_path / "app.conf"
    src.write_text("x=1\n")
    src.chmod(0o640)
    tree_src = tmp_path / "dir"
    (tree_src / "bin").mkdir(parents=True)
    (tree_src / "bin" / "tool").write_text("t")
    (tree_src / "bin" / "tool").chmod(0o755)
    dest = tmp_path / "guest"
    steps = [
        DiskStep("copy", src=src, dst=f"{dest}/etc/app/"),
        DiskStep("copy", src=src, dst=f"{dest}/etc/renamed.conf"),
        DiskStep("copy", src=tree_src, dst=f"{dest}/opt/dir"),
    ]
    transcript = run_steps(tmp_path, steps, {})
    assert transcript.succeeded, list(transcript.console_tail)
    assert (dest / "etc/app/app.conf").stat().st_mode & 0o7777 == 0o640
    assert (dest / "etc/renamed.conf").read_text() == "x=1\n"
    assert (dest / "opt/dir/bin/tool").stat().st_mode & 0o7777 == 0o755


def test_copy_destination_must_be_absolute_without_dotdot() -> None:
    with pytest.raises(InvalidArgument):
        render_copy_script(1, "etc/x", "x", False)
    with pytest.raises(InvalidArgument):
        render_copy_script(1, "/etc/../x", "x", False)


def test_missing_copy_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        stage_tree(
            tmp_path / "t", [DiskStep("copy", src=tmp_path / "nope", dst="/x")], {}, NONCE, AS_ME
        )


def test_sh_quote_round_trips_through_a_shell() -> None:
    for value in ["plain", "it's", "$(reboot)", "a\nb", "", "'''"]:
        out = subprocess.run(["sh", "-c", f"printf %s {sh_quote(value)}"], capture_output=True)
        assert out.stdout.decode() == value


def test_summaries_are_one_line() -> None:
    assert summarize(DiskStep("run", text="apt-get update\napt-get install -y x")) == (
        "run: apt-get update ..."
    )
    assert summarize(DiskStep("script", text="echo", name="s.sh")).startswith(
        "script: s.sh (sha256:"
    )
    assert summarize(DiskStep("copy", src=Path("/a"), dst="/b")) == "copy: /a -> /b"
