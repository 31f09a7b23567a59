"""The daemon's trim pass over every VM's and builder's logs (real files, real layout)."""

from __future__ import annotations

import time
from pathlib import Path

from banger.daemon.console_trim import ConsoleTrimmer, trim_all
from banger.guest import console_log
from banger.store import StateLayout

CAP = 64 << 10


def test_every_vm_and_builder_log_is_trimmed_and_symlinks_are_left_alone(
    tmp_path: Path,
) -> None:
    layout = StateLayout(tmp_path / "state")
    layout.ensure()
    logs = [
        layout.vm("v1").console_log,
        layout.vm("v1").path / "firecracker.log",
        layout.tmp / "build-1" / "console.log",
    ]
    for path in logs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (CAP * 4))
    small = layout.vm("v2").console_log
    small.parent.mkdir()
    small.write_bytes(b"y" * 100)
    outside = tmp_path / "not-a-log"
    outside.write_bytes(b"z" * (CAP * 4))
    layout.vm("v3").path.mkdir()
    layout.vm("v3").console_log.symlink_to(outside)

    assert trim_all(layout, CAP) > 0
    for path in logs:
        assert path.stat().st_size <= CAP, path
        assert console_log.end(path) == CAP * 4
    assert small.read_bytes() == b"y" * 100
    assert outside.stat().st_size == CAP * 4  # never followed out of the state dir


def test_the_trimmer_thread_trims_within_seconds(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path / "state")
    layout.ensure()
    log = layout.vm("v1").console_log
    log.parent.mkdir()
    log.write_bytes(b"x" * (CAP * 4))
    trimmer = ConsoleTrimmer(layout, CAP)
    trimmer.start()
    try:
        deadline = time.monotonic() + 10
        while log.stat().st_size > CAP and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        trimmer.stop()
    assert log.stat().st_size <= CAP
