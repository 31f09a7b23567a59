"""The KVM verdict, remembered with everything it depends on.

A probe boots a guest (up to a few seconds), so its verdict is kept in the state dir and
reused while the host kernel, the QEMU binary and the probed kernel file stay the same; a
host kernel upgrade (PVM hosts change how they fail with it), a new QEMU or another guest
kernel each get a fresh probe.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from banger.doctor.kvm import KvmVerdict

_MAX_ENTRIES = 16


def fingerprint(qemu_path: Path, kernel: Path) -> str:
    """What a verdict depends on, as one comparable string."""
    uname = os.uname()
    parts = [f"host={uname.release} {uname.version}"]
    for label, path in (("qemu", qemu_path), ("kernel", kernel)):
        resolved = path.resolve()
        st = resolved.stat()
        parts.append(f"{label}={resolved}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return "|".join(parts)


class VerdictCache:
    """A small JSON file of fingerprint -> verdict (root-only, written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # missing or damaged: probe again, it is only a cache
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> KvmVerdict | None:
        raw = self._load().get(key)
        if not isinstance(raw, dict):
            return None
        try:
            return KvmVerdict(**raw)  # type: ignore[arg-type]
        except TypeError:
            return None

    def put(self, key: str, verdict: KvmVerdict) -> None:
        entries = self._load()
        entries.pop(key, None)
        entries[key] = asdict(verdict)
        kept = dict(list(entries.items())[-_MAX_ENTRIES:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f, indent=1)
        os.replace(tmp, self.path)
