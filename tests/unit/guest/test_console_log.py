"""Console logs trimmed in place while a separate process keeps appending (real files:
ext4 under the test's basetemp for COLLAPSE_RANGE, tmpfs /dev/shm for the fallback)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.guest import console_log
from banger.guest.boot_watch import ConsoleWatch, Phase, StallLimits

LINES = 150_000  # 9 bytes each: 1.35 MB through a 64 KiB cap
CAP = 64 << 10

# A VMM stand-in: opens the log once O_APPEND (as QEMU's append=on and Firecracker's
# stdout do) and writes numbered lines, flushing each, until it has written them all.
WRITER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for i in range(int(sys.argv[2])):
    os.write(fd, b"%08d\\n" % i)
    if i % 2000 == 0:
        time.sleep(0.01)
"""


def _writer(path: Path, lines: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(lines)])


def _follow(path: Path, writer: subprocess.Popen[bytes], cap: int) -> tuple[bytes, int, int]:
    """Read everything as a reader would while trimming like the daemon; returns
    (all bytes read, largest size the file had, bytes the reader was told it missed)."""
    offset, missed, largest = 0, 0, 0
    chunks: list[bytes] = []
    while True:
        done = writer.poll() is not None
        console_log.trim(path, cap)
        while True:
            data, offset, skipped = console_log.read(path, offset, 1 << 20)
            missed += skipped
            chunks.append(data)
            if not data:
                break
        largest = max(largest, path.stat().st_size if path.exists() else 0)
        if done:
            return b"".join(chunks), largest, missed
        time.sleep(0.005)


def test_trim_in_place_loses_nothing_for_a_reader_that_keeps_up(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    writer = _writer(log, LINES)
    read, largest, missed = _follow(log, writer, CAP)
    assert writer.wait() == 0
    assert missed == 0
    assert read == b"".join(b"%08d\n" % i for i in range(LINES))  # every line, in order
    assert console_log.dropped(log) > LINES * 9 - 2 * CAP  # it really was trimmed, in place
    assert console_log.end(log) == LINES * 9
    assert largest < CAP + (512 << 10)  # bounded by the cap plus one poll's worth
    assert not log.with_name("console.log.1").exists()  # nothing copied: collapsed in place


@pytest.fixture
def tmpfs_dir() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm tmpfs here")
    with tempfile.TemporaryDirectory(prefix="banger-test-console-", dir="/dev/shm") as tmp:
        yield Path(tmp)


def test_without_collapse_range_the_fallback_still_bounds_the_file(tmpfs_dir: Path) -> None:
    log = tmpfs_dir / "console.log"
    writer = _writer(log, LINES)
    read, largest, _ = _follow(log, writer, CAP)  # a copy + truncate may lose a few bytes
    assert writer.wait() == 0
    assert largest < CAP + (512 << 10)
    rotated = log.with_name("console.log.1")
    assert rotated.is_file() and 0 < rotated.stat().st_size <= CAP // 2
    # The reader's logical offsets stay consistent: it ends where the log ends.
    assert console_log.end(log) == console_log.dropped(log) + log.stat().st_size
    assert read.endswith(b"%08d\n" % (LINES - 1))


def test_a_reader_that_fell_behind_a_trim_is_told_how_much_it_missed(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"a" * (CAP * 4))
    cut = console_log.trim(log, CAP)
    assert cut > 0 and cut % 4096 == 0 and log.stat().st_size == CAP * 4 - cut
    data, offset, skipped = console_log.read(log, 0, 1 << 20)
    assert skipped == cut and offset == CAP * 4 and len(data) == CAP * 4 - cut
    assert console_log.trim(log, CAP) == 0  # under the cap now: nothing to do


def test_the_boot_watch_keeps_seeing_progress_across_a_trim(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    now = [0.0]
    watch = ConsoleWatch(log, StallLimits(20, 30), accel="tcg", clock=lambda: now[0])
    with log.open("ab") as console:
        console.write(b"[    0.1] kernel says hello\n" * 10_000)  # 280 KB
        console.flush()
        watch.check()
        assert console_log.trim(log, CAP) > 0  # the file is now far shorter than the offset
        now[0] = 15.0
        console.write(b"[   15.0] Run /init as init process\n")
        console.flush()
        watch.check()
    assert watch.phase is Phase.USERSPACE and watch.silent_for() == 0
    assert watch.last_line == "[   15.0] Run /init as init process"


def test_remove_clears_the_log_and_its_side_files(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(os.urandom(CAP * 3))
    console_log.trim(log, CAP)
    assert console_log.dropped(log) > 0
    console_log.remove(log)
    assert list(tmp_path.iterdir()) == []
    assert console_log.end(log) == 0 and console_log.dropped(log) == 0


def test_the_boot_watch_counts_what_was_trimmed_before_it_read_it(tmp_path: Path) -> None:
    # A console-mode build fails on this count rather than judge a transcript with holes.
    log = tmp_path / "console.log"
    log.write_bytes(b"early line\n" * (CAP // 2))
    watch = ConsoleWatch(log, StallLimits(20, 30), accel="tcg")
    cut = console_log.trim(log, CAP)
    watch.poll()
    assert cut > 0 and watch.skipped == cut
    watch.poll()
    assert watch.skipped == cut  # counted once
