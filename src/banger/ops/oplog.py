"""An operation's log, bounded: its first lines and its last lines, never everything.

A guest, an image or a build step decides how much an operation logs (a step may print
gigabytes), and every line is held in memory for live followers and stored in SQLite for
`ops show`. So a log keeps its head (how the work began) and a sliding tail (how it ended),
cuts each line, and says where and how much it dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from banger.store.operations import dropped_note

# A line longer than this is cut: console and tool lines that matter are far shorter.
MAX_LINE_CHARS = 1000


@dataclass(frozen=True)
class LogLimits:
    """Lines an operation log keeps: the first `head_lines` and the last `tail_lines`."""

    head_lines: int = 2000
    tail_lines: int = 8000

    @classmethod
    def of_total(cls, lines: int) -> LogLimits:
        """A fifth of `lines` for the head, the rest for the tail."""
        head = max(1, lines // 5)
        return cls(head_lines=head, tail_lines=max(1, lines - head))


@dataclass(frozen=True)
class Appended:
    seq: int  # 1-based position of the line in the whole log
    line: str  # as kept (cut to MAX_LINE_CHARS)
    evicted: int | None  # the seq that left the tail to make room (delete it from storage)


class BoundedLog:
    """Head + tail of a log in memory, with sequence numbers for followers."""

    def __init__(self, limits: LogLimits) -> None:
        self.limits = limits
        self.total = 0
        self.head: list[str] = []
        self.tail: deque[tuple[int, str]] = deque(maxlen=limits.tail_lines)

    def append(self, line: str) -> Appended:
        if len(line) > MAX_LINE_CHARS:
            line = f"{line[:MAX_LINE_CHARS]} [banger: {len(line) - MAX_LINE_CHARS} chars cut]"
        self.total += 1
        if self.total <= self.limits.head_lines:
            self.head.append(line)
            return Appended(self.total, line, None)
        evicted = self.tail[0][0] if len(self.tail) == self.tail.maxlen else None
        self.tail.append((self.total, line))
        return Appended(self.total, line, evicted)

    def since(self, seen: int) -> tuple[list[str], int]:
        """The kept lines after seq `seen` (a note where some were dropped), and the seq of
        the last one: the `seen` of the next call."""
        lines = self.head[seen:]
        last = seen + len(lines)
        for seq, line in list(self.tail):  # a copy: the operation's thread keeps appending
            if seq <= last:
                continue
            if seq > last + 1:
                lines.append(dropped_note(seq - last - 1))
            lines.append(line)
            last = seq
        return lines, last
