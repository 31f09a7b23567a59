"""A background thread that runs one pass every period until stopped, outliving any pass
that fails (the VM monitor and the console trimmer are two of these)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("banger.daemon")


class Ticker:
    def __init__(self, name: str, period: float, tick: Callable[[], object]) -> None:
        self.name, self.period, self.tick = name, period, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.tick()
            except Exception:  # one bad pass (a record, a file) must not end the thread
                log.exception("%s pass failed", self.name)
