"""An operation's log keeps its head and tail only, in memory and in SQLite (real DB)."""

from __future__ import annotations

import threading
from pathlib import Path

from banger.ops.manager import OperationManager, OperationReporter
from banger.ops.oplog import MAX_LINE_CHARS, BoundedLog, LogLimits
from banger.store import Database, OperationStore


def _manager(tmp_path: Path, limits: LogLimits) -> OperationManager:
    return OperationManager(OperationStore(Database(tmp_path / "b.db")), log_limits=limits)


def test_a_flooding_operation_keeps_head_and_tail_with_a_note(tmp_path: Path) -> None:
    manager = _manager(tmp_path, LogLimits(head_lines=3, tail_lines=4))

    def work(r: OperationReporter) -> None:
        for i in range(1, 1001):
            r.log(f"line {i}")
        r.log("x" * (MAX_LINE_CHARS * 50))

    op = manager.start("flood", None, work, owner_uid=0)
    assert manager.wait(op.id, timeout=30).state == "succeeded"
    log = manager.log(op.id)
    assert log[:3] == ["line 1", "line 2", "line 3"]
    assert log[3].startswith("[banger: 994 log lines dropped here")
    assert log[4:7] == ["line 998", "line 999", "line 1000"]
    assert log[7] == "x" * MAX_LINE_CHARS + f" [banger: {MAX_LINE_CHARS * 49} chars cut]"
    assert len(log) == 8
    rows = manager.store.db.query("SELECT COUNT(*) AS n FROM operation_logs")
    assert rows[0]["n"] == 7  # the database holds no more than head + tail either
    # A late follower (from the DB, after the operation left memory) reads the same.
    assert OperationStore(manager.store.db).log(op.id) == log


def test_a_live_follower_is_told_what_it_missed(tmp_path: Path) -> None:
    manager = _manager(tmp_path, LogLimits(head_lines=2, tail_lines=3))
    gate = threading.Event()

    def work(r: OperationReporter) -> None:
        gate.wait(10)
        for i in range(1, 51):
            r.log(f"l{i}")

    op = manager.start("follow", None, work, owner_uid=0)
    seen: list[str] = []
    for event in manager.events(op.id):
        gate.set()
        seen += event.log
    assert seen[:2] == ["l1", "l2"] and seen[-3:] == ["l48", "l49", "l50"]
    notes = [line for line in seen if line.startswith("[banger:")]
    # Every line is either seen or counted as dropped, none twice.
    shown = [line for line in seen if not line.startswith("[banger:")]
    dropped = sum(int(n.split()[1]) for n in notes)
    assert len(shown) == len(set(shown)) and len(shown) + dropped == 50


def test_bounded_log_since_is_exact_across_the_head_tail_seam() -> None:
    log = BoundedLog(LogLimits(head_lines=2, tail_lines=2))
    for i in range(1, 4):
        log.append(f"l{i}")
    assert log.since(0) == (["l1", "l2", "l3"], 3)
    log.append("l4")
    log.append("l5")  # l3 leaves the tail
    assert log.since(3) == (["l4", "l5"], 5)
    lines, last = log.since(1)
    assert lines == ["l2", lines[1], "l4", "l5"] and "1 log lines dropped" in lines[1]
    assert last == 5
    assert LogLimits.of_total(10_000) == LogLimits(head_lines=2000, tail_lines=8000)
