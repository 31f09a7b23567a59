"""Read a builder VM's serial console: step output, exit codes and the final verdict.

The console log is the only host<->guest channel `image build` needs. Lines carry the
framing of build_disk.py; everything else (kernel messages, banger-init lines) is kept
only as context for error messages. A marker counts only with this build's nonce, and
output lines are never parsed further, so step output cannot fake a begin/exit/done.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from banger.images.build_disk import MARKER

_OUT = re.compile(r"out (\d+) ?(.*)", re.DOTALL)
_BEGIN = re.compile(r"begin (\d+)\s*")
_EXIT = re.compile(r"exit (\d+) (\d+)\s*")
_DONE = re.compile(r"done (ok|failed)\s*")
TAIL_LINES = 20
MAX_LINE_BYTES = 64 * 1024  # a console line longer than this is cut (the marker lines are short)


@dataclass(frozen=True)
class StepBegin:
    step: int


@dataclass(frozen=True)
class StepOutput:
    step: int
    line: str


@dataclass(frozen=True)
class StepExit:
    step: int
    code: int


@dataclass(frozen=True)
class BuildDone:
    ok: bool


@dataclass(frozen=True)
class ConsoleLine:
    """A console line that is not ours (kernel, init): context for errors only."""

    line: str


Event = StepBegin | StepOutput | StepExit | BuildDone | ConsoleLine


def parse_line(line: str, nonce: str) -> Event:
    """Classify one console line (without its line ending)."""
    prefix = f"{MARKER} {nonce} "
    at = line.find(prefix)
    if at < 0:
        return ConsoleLine(line)
    # Anything before the marker is a kernel message that interrupted the line.
    rest = line[at + len(prefix) :]
    if match := _OUT.fullmatch(rest):
        return StepOutput(int(match[1]), match[2])
    if match := _BEGIN.fullmatch(rest):
        return StepBegin(int(match[1]))
    if match := _EXIT.fullmatch(rest):
        return StepExit(int(match[1]), int(match[2]))
    if match := _DONE.fullmatch(rest):
        return BuildDone(match[1] == "ok")
    return ConsoleLine(line)


@dataclass
class Transcript:
    """What the console said so far, fed incrementally as the log file grows."""

    nonce: str
    steps: int
    current: int | None = None
    exits: dict[int, int] = field(default_factory=dict)
    done: bool | None = None
    step_tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    console_tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    _partial: bytes = b""

    def feed(self, data: bytes) -> list[Event]:
        """Add raw console bytes; return the events of the lines they complete.

        Linear in the input: only the new bytes are split, and a line without an end keeps
        at most MAX_LINE_BYTES (a guest printing gigabytes without a newline must cost
        neither quadratic time nor unbounded memory).
        """
        *complete, rest = data.split(b"\n")
        if complete:
            complete[0] = (self._partial + complete[0])[:MAX_LINE_BYTES]
            self._partial = rest[:MAX_LINE_BYTES]
        else:
            self._partial = (self._partial + rest)[:MAX_LINE_BYTES]
        events = []
        for raw in complete:
            event = self.accept(raw.decode("utf-8", errors="replace").rstrip("\r"))
            if event is not None:
                events.append(event)
        return events

    def accept(self, line: str) -> Event | None:
        """Apply one line; out-of-order or foreign-step markers are treated as noise."""
        event = parse_line(line, self.nonce)
        if isinstance(event, StepBegin) and self.current is None and self.done is None:
            if event.step == len(self.exits) + 1 and event.step <= self.steps:
                self.current = event.step
                self.step_tail.clear()
                return event
        elif isinstance(event, StepOutput) and event.step == self.current:
            self.step_tail.append(event.line)
            return event
        elif isinstance(event, StepExit) and event.step == self.current:
            self.exits[event.step] = event.code
            self.current = None
            return event
        elif isinstance(event, BuildDone) and self.current is None and self.done is None:
            self.done = event.ok
            return event
        elif isinstance(event, ConsoleLine):
            self.console_tail.append(event.line)
            return event
        self.console_tail.append(line)
        return None

    def failed_step(self) -> tuple[int, int] | None:
        """(step, exit code) of the first step that exited non-zero, if any."""
        for step, code in sorted(self.exits.items()):
            if code != 0:
                return step, code
        return None

    @property
    def succeeded(self) -> bool:
        """Every step exited 0 and the runner said so."""
        return (
            self.done is True
            and len(self.exits) == self.steps
            and all(code == 0 for code in self.exits.values())
        )
