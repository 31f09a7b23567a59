"""Keep every console log on this host under its cap ([limits] console_log_bytes).

A guest prints as much as it likes for as long as it runs; once a second this thread trims
each VM's and each builder's console.log and Firecracker's log files (guest.console_log.trim:
the oldest bytes go, in place, while the VMM keeps appending). It looks at files, not
records, so a VM being created, a running one and a hidden builder are all covered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from banger.daemon.ticker import Ticker
from banger.guest import console_log
from banger.store import StateLayout

log = logging.getLogger("banger.daemon")
POLL_SECONDS = 1.0
# The serial console (store.layout's VMDir and BuilderDir both name it console.log) and
# Firecracker's own log and metrics, which grow for as long as the VM runs too. Firecracker
# may not open those O_APPEND: then a trim leaves a hole where it cut, which holds no disk.
LOG_NAMES = ("console.log", "firecracker.log", "firecracker.metrics")


def vm_logs(layout: StateLayout) -> Iterator[Path]:
    """Every log named in LOG_NAMES directly inside a VM dir (vms/) or builder dir (tmp/)."""
    for parent in (layout.vms, layout.tmp):
        try:
            children = list(parent.iterdir())
        except FileNotFoundError:
            continue
        for child in children:
            for name in LOG_NAMES:
                path = child / name
                if path.is_file() and not path.is_symlink():
                    yield path


def trim_all(layout: StateLayout, cap: int) -> int:
    """One pass; returns the bytes dropped."""
    total = 0
    for path in vm_logs(layout):
        try:
            total += console_log.trim(path, cap)
        except OSError as exc:  # one unwritable log must not stop the others
            log.warning("could not trim %s: %s", path, exc)
    return total


class ConsoleTrimmer(Ticker):
    def __init__(self, layout: StateLayout, cap: int) -> None:
        self.layout, self.cap = layout, cap
        super().__init__("console-trim", POLL_SECONDS, lambda: trim_all(layout, cap))
