import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from banger.errors import Cancelled, InvalidArgument, NotFound
from banger.ops.manager import OperationManager, OperationReporter
from banger.store import Database, OperationStore


@pytest.fixture
def manager(tmp_path: Path) -> OperationManager:
    return OperationManager(OperationStore(Database(tmp_path / "b.db")))


def test_success_records_result_progress_and_log(manager: OperationManager) -> None:
    def work(r: OperationReporter) -> dict[str, object]:
        r.stage("download")
        r.progress(5, 10, unit="bytes", task="layer-1")
        r.progress(10, 10, unit="bytes")
        r.log("fetched")
        return {"answer": 42}

    op = manager.start("pull", "x", work, owner_uid=0)
    done = manager.wait(op.id, timeout=10)
    assert done.state == "succeeded"
    assert done.result == {"answer": 42}
    assert done.tasks["layer-1"].current == 5
    assert done.started_at and done.ended_at and done.ended_at >= done.started_at
    assert "fetched" in manager.log(op.id)
    assert manager.store.get(op.id).state == "succeeded"  # type: ignore[union-attr]


def test_failure_keeps_the_banger_error(manager: OperationManager) -> None:
    def work(r: OperationReporter) -> None:
        raise InvalidArgument("bad thing", hint="do better")

    done = manager.wait(manager.start("x", None, work, owner_uid=0).id, timeout=10)
    assert done.state == "failed"
    assert done.error is not None
    assert (done.error.code, done.error.message, done.error.hint) == (
        "invalid_argument",
        "bad thing",
        "do better",
    )


def test_unexpected_exception_is_recorded_not_lost(manager: OperationManager) -> None:
    def work(r: OperationReporter) -> None:
        raise RuntimeError("boom")

    done = manager.wait(manager.start("x", None, work, owner_uid=0).id, timeout=10)
    assert done.state == "failed" and "boom" in done.error.message  # type: ignore[union-attr]


def test_cancel_runs_hooks_and_ends_cancelled(manager: OperationManager) -> None:
    started, hook_ran = threading.Event(), threading.Event()

    def work(r: OperationReporter) -> None:
        r.on_cancel(hook_ran.set)
        started.set()
        for _ in range(500):
            r.check_cancelled()
            threading.Event().wait(0.01)
        raise AssertionError("never cancelled")

    op = manager.start("slow", None, work, owner_uid=0)
    assert started.wait(5)
    manager.cancel(op.id)
    done = manager.wait(op.id, timeout=10)
    assert done.state == "cancelled" and hook_ran.is_set()


def test_events_stream_until_terminal(manager: OperationManager) -> None:
    gate = threading.Event()

    def work(r: OperationReporter) -> None:
        r.log("one")
        gate.wait(5)
        r.log("two")

    op = manager.start("x", None, work, owner_uid=0)
    seen: list[str] = []
    states = []
    for event in manager.events(op.id):
        seen.extend(event.log)
        states.append(event.operation.state)
        gate.set()
    assert seen == ["one", "two"]
    assert states[-1] == "succeeded"


def test_restart_marks_running_failed(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    first = OperationManager(OperationStore(db))
    release = threading.Event()
    op = first.start("long", None, lambda r: release.wait(10) and None, owner_uid=0)
    while first.get(op.id).state != "running":
        threading.Event().wait(0.01)
    second = OperationManager(OperationStore(db))  # what a daemon restart does
    after = second.get(op.id)
    assert after.state == "failed"
    assert after.error is not None and after.error.message == "daemon restarted"
    release.set()


def test_unknown_operation(manager: OperationManager) -> None:
    with pytest.raises(NotFound):
        manager.get("nope")
    with pytest.raises(Cancelled):
        raise Cancelled("x")


def test_old_finished_records_are_pruned_with_their_logs(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    first = OperationManager(OperationStore(db), retention_days=30)
    old = first.start("pull", "old", lambda r: r.log("old line") and None, owner_uid=0)
    recent = first.start("pull", "recent", lambda r: None, owner_uid=0)
    for op in (old, recent):
        first.wait(op.id, timeout=10)
    # Age one record past the retention, as if it ended 31 days ago.
    long_ago = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    db.execute("UPDATE operations SET ended_at = ? WHERE id = ?", (long_ago, old.id))
    running = threading.Event()
    release = threading.Event()

    def long_work(r: OperationReporter) -> None:
        running.set()
        release.wait(10)

    keeps = OperationManager(OperationStore(db), retention_days=0)  # 0 keeps everything
    assert keeps.get(old.id).target == "old"
    assert "old line" in keeps.log(old.id)
    second = OperationManager(OperationStore(db), retention_days=30)  # a restart prunes
    with pytest.raises(NotFound):
        second.get(old.id)
    assert OperationStore(db).log(old.id) == []  # its log went with it
    assert second.get(recent.id).state == "succeeded"
    live = second.start("long", None, long_work, owner_uid=0)
    running.wait(10)
    assert second.get(live.id).state == "running"  # never pruned while it runs
    release.set()
    second.wait(live.id, timeout=10)
