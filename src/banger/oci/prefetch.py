"""Decompress (and hash) a layer on a second thread while the tar reader consumes it.

zlib, zstd and sha256 release the GIL on large buffers, so decompression overlaps the
pure-Python tar parsing and file staging instead of adding to it. Errors raised while
decompressing are re-raised in the reading thread, unchanged, so callers see exactly
the exceptions the decompressor itself would have raised.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from typing import BinaryIO

_CHUNK = 1024 * 1024
_DEPTH = 16  # chunks in flight: bounds memory at ~16 MiB per layer


class PrefetchReader(io.RawIOBase):
    """A raw reader over `inner` whose reads happen ahead, on a worker thread.

    `sha` and `count` cover every byte produced; they are final once a read returned 0.
    """

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self.sha = hashlib.sha256()
        self.count = 0
        self._inner = inner
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(_DEPTH)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._eof = False
        self._thread = threading.Thread(target=self._produce, name="layer-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._inner.read(_CHUNK)
                if data:
                    self.sha.update(data)
                    self.count += len(data)
                if not self._put(data) or not data:
                    return
        except BaseException as exc:
            self._put(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            if self._eof:
                return 0
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            if not item:
                self._eof = True
                return 0
            self._pending = memoryview(item)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        """Stop the worker and wait for it, so the caller may close `inner` safely."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        self._thread.join()
        super().close()
