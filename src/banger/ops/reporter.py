"""What a long-running helper gets to report progress, log lines and honour cancellation.

Helper packages (kernels, images, oci, ...) depend only on this protocol; the daemon hands
them a reporter bound to a tracked operation.
"""

from __future__ import annotations

from typing import Protocol

from banger.errors import Cancelled


class Reporter(Protocol):
    def stage(self, name: str) -> None:
        """Enter a named stage ("resolve", "download", "build ext4", ...)."""

    def progress(
        self,
        current: int,
        total: int | None = None,
        *,
        unit: str = "",
        message: str = "",
        task: str | None = None,
    ) -> None:
        """Report progress of the operation, or of a named sub-task (e.g. one layer)."""

    def log(self, line: str) -> None:
        """Append a line to the operation log."""

    def check_cancelled(self) -> None:
        """Raise banger.errors.Cancelled if the operation was cancelled."""


def is_cancelled(reporter: Reporter) -> bool:
    """check_cancelled as a predicate, for tools that poll (banger.proc.stream)."""
    try:
        reporter.check_cancelled()
    except Cancelled:
        return True
    return False


class NullReporter:
    """A reporter that only keeps stages and lines in memory: for tests and synchronous callers."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stages: list[str] = []

    def stage(self, name: str) -> None:
        self.stages.append(name)

    def progress(
        self,
        current: int,
        total: int | None = None,
        *,
        unit: str = "",
        message: str = "",
        task: str | None = None,
    ) -> None:
        return None

    def log(self, line: str) -> None:
        self.lines.append(line)

    def check_cancelled(self) -> None:
        return None
