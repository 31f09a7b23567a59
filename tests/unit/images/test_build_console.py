"""Console marker parsing: real runner output, hostile step output, broken console lines."""

from __future__ import annotations

from banger.images.build_console import (
    BuildDone,
    ConsoleLine,
    StepBegin,
    StepExit,
    StepOutput,
    Transcript,
    parse_line,
)

NONCE = "0123abcd"
M = f"@@banger-build {NONCE}"


def feed_lines(transcript: Transcript, lines: list[str]) -> None:
    transcript.feed("".join(line + "\r\n" for line in lines).encode())


def test_parse_line_kinds() -> None:
    assert parse_line(f"{M} begin 2", NONCE) == StepBegin(2)
    assert parse_line(f"{M} out 2 hello  world ", NONCE) == StepOutput(2, "hello  world ")
    assert parse_line(f"{M} out 2 ", NONCE) == StepOutput(2, "")
    assert parse_line(f"{M} exit 2 130", NONCE) == StepExit(2, 130)
    assert parse_line(f"{M} done ok", NONCE) == BuildDone(True)
    assert parse_line(f"{M} done failed", NONCE) == BuildDone(False)
    assert parse_line("[    1.2] random: crng init done", NONCE) == ConsoleLine(
        "[    1.2] random: crng init done"
    )


def test_other_nonce_is_not_a_marker() -> None:
    assert isinstance(parse_line("@@banger-build ffffffff exit 1 0", NONCE), ConsoleLine)


def test_kernel_text_before_a_marker_is_tolerated() -> None:
    assert parse_line(f"[   3.1] virtio_net: x{M} exit 1 0", NONCE) == StepExit(1, 0)


def test_step_output_imitating_markers_stays_output() -> None:
    transcript = Transcript(nonce=NONCE, steps=2)
    feed_lines(
        transcript,
        [
            f"{M} begin 1",
            f"{M} out 1 {M} exit 1 0",
            f"{M} out 1 {M} done ok",
            f"{M} out 1 @@banger-build {NONCE} begin 2",
            f"{M} exit 1 5",
            f"{M} done failed",
        ],
    )
    assert transcript.exits == {1: 5}
    assert transcript.done is False
    assert transcript.failed_step() == (1, 5)
    assert not transcript.succeeded
    assert list(transcript.step_tail)[-1] == f"@@banger-build {NONCE} begin 2"


def test_out_of_order_markers_are_noise() -> None:
    transcript = Transcript(nonce=NONCE, steps=2)
    feed_lines(
        transcript,
        [
            f"{M} exit 1 0",  # no step began
            f"{M} begin 2",  # skips step 1
            f"{M} done ok",
        ],
    )
    assert transcript.exits == {}
    assert transcript.current is None
    assert transcript.done is True
    assert not transcript.succeeded  # done without every step exiting 0


def test_success_needs_every_step_and_done() -> None:
    transcript = Transcript(nonce=NONCE, steps=2)
    lines = [f"{M} begin 1", f"{M} exit 1 0", f"{M} begin 2", f"{M} out 2 x", f"{M} exit 2 0"]
    feed_lines(transcript, lines)
    assert not transcript.succeeded
    feed_lines(transcript, [f"{M} done ok"])
    assert transcript.succeeded


def test_lines_split_across_reads_are_joined() -> None:
    transcript = Transcript(nonce=NONCE, steps=1)
    data = f"{M} begin 1\r\n{M} out 1 part one and two\r\n{M} exit 1 0\r\n".encode()
    events = []
    for i in range(0, len(data), 7):
        events += transcript.feed(data[i : i + 7])
    assert events == [StepBegin(1), StepOutput(1, "part one and two"), StepExit(1, 0)]


def test_invalid_utf8_does_not_break_parsing() -> None:
    transcript = Transcript(nonce=NONCE, steps=1)
    transcript.feed(f"{M} begin 1\n".encode() + M.encode() + b" out 1 \xff\xfe\n")
    assert list(transcript.step_tail) == ["\ufffd\ufffd"]
