"""Tracked operations: run work in a thread, record every state change, stream it live.

Each operation's record is persisted on every state change (progress is throttled), so
`ops list` survives a daemon restart; anything still running at start-up becomes failed
with the reason "daemon restarted".
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from banger.api.models import (
    TERMINAL_STATES,
    ErrorBody,
    Operation,
    OperationEvent,
    OperationState,
    Progress,
)
from banger.errors import BangerError, Cancelled, NotFound
from banger.ops.oplog import BoundedLog, LogLimits
from banger.store.operations import OperationStore

log = logging.getLogger("banger.ops")

Work = Callable[["OperationReporter"], dict[str, Any] | None]
_PERSIST_INTERVAL = 0.25
# A finished operation stays in memory briefly (late followers get its live record), then
# is served from the database only; records older than the retention are deleted.
_FORGET_AFTER = timedelta(minutes=1)
_PRUNE_INTERVAL_SECONDS = 3600.0


def _now() -> datetime:
    return datetime.now(UTC)


class _Tracked:
    """In-memory live state of one operation (the DB holds the durable copy)."""

    def __init__(self, op: Operation, limits: LogLimits) -> None:
        self.op = op
        self.log = BoundedLog(limits)
        self.cancel = threading.Event()
        self.cancel_hooks: list[Callable[[], None]] = []
        self.changed = threading.Condition()
        self.version = 0
        self.persisted_at = 0.0


class OperationReporter:
    """The Reporter a running operation's work receives (see banger.ops.reporter)."""

    def __init__(self, manager: OperationManager, tracked: _Tracked) -> None:
        self._manager = manager
        self._t = tracked

    @property
    def operation_id(self) -> str:
        return self._t.op.id

    def stage(self, name: str) -> None:
        self._t.op.stage = name
        self._t.op.progress = Progress(message=name)
        self.log(f"== {name}")

    def progress(
        self,
        current: int,
        total: int | None = None,
        *,
        unit: str = "",
        message: str = "",
        task: str | None = None,
    ) -> None:
        value = Progress(current=current, total=total, unit=unit, message=message)
        if task is None:
            self._t.op.progress = value
        else:
            self._t.op.tasks[task] = value
        self._manager._changed(self._t, persist=False)

    def log(self, line: str) -> None:
        store = self._manager.store
        for part in line.rstrip("\n").split("\n"):
            kept = self._t.log.append(part)
            store.append_log(self._t.op.id, kept.seq, kept.line)
            if kept.evicted is not None:
                store.delete_log_line(self._t.op.id, kept.evicted)
        self._manager._changed(self._t, persist=False)

    def check_cancelled(self) -> None:
        if self._t.cancel.is_set():
            raise Cancelled(f"operation {self._t.op.id} was cancelled")

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Run `hook` (e.g. kill a child process) when the operation is cancelled."""
        self._t.cancel_hooks.append(hook)
        if self._t.cancel.is_set():
            hook()


class OperationManager:
    def __init__(
        self,
        store: OperationStore,
        retention_days: int = 30,
        log_limits: LogLimits = LogLimits(),
    ) -> None:
        """retention_days: finished records older than this are deleted (0: keep all);
        log_limits: how many of an operation's log lines are kept (head and tail)."""
        self.store, self.log_limits = store, log_limits
        self._live: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._pruned_at: float | None = None
        interrupted = store.fail_unfinished("daemon restarted", _now().isoformat())
        if interrupted:
            log.warning("marked %d interrupted operation(s) failed", interrupted)
        self._housekeeping()

    def _housekeeping(self) -> None:
        """Drop long-finished operations from memory; prune old records (hourly at most)."""
        now = _now()
        with self._lock:
            for op_id, tracked in list(self._live.items()):
                ended = tracked.op.ended_at
                if ended is not None and now - ended > _FORGET_AFTER:
                    del self._live[op_id]
        due = self._pruned_at is None or (
            time.monotonic() - self._pruned_at >= _PRUNE_INTERVAL_SECONDS
        )
        if self._retention is not None and due:
            self._pruned_at = time.monotonic()
            removed = self.store.delete_finished_before((now - self._retention).isoformat())
            if removed:
                log.info("deleted %d operation record(s) older than the retention", removed)

    def start(self, kind: str, target: str | None, work: Work, *, owner_uid: int) -> Operation:
        """Run `work` in a thread as a tracked operation of `owner_uid` (the requester: only
        they, root and admins may see, follow or cancel it)."""
        op = Operation(
            id=secrets.token_hex(6),
            kind=kind,
            owner_uid=owner_uid,
            target=target,
            state=OperationState.QUEUED,
            created_at=_now(),
        )
        tracked = _Tracked(op, self.log_limits)
        with self._lock:
            self._live[op.id] = tracked
        self.store.save(op)
        thread = threading.Thread(
            target=self._run, args=(tracked, work), name=f"op-{op.id}", daemon=True
        )
        thread.start()
        self._housekeeping()
        return op.model_copy(deep=True)

    def _run(self, tracked: _Tracked, work: Work) -> None:
        op = tracked.op
        op.state, op.started_at = OperationState.RUNNING, _now()
        self._changed(tracked, persist=True)
        reporter = OperationReporter(self, tracked)
        try:
            reporter.check_cancelled()
            result = work(reporter)
            op.result = result
            op.state = OperationState.SUCCEEDED
        except Cancelled as exc:
            op.state = OperationState.CANCELLED
            op.error = ErrorBody(code=exc.code, message=exc.message, hint=exc.hint)
        except BangerError as exc:
            op.state = (
                OperationState.CANCELLED if tracked.cancel.is_set() else OperationState.FAILED
            )
            op.error = ErrorBody(
                code=exc.code,
                message=exc.message,
                hint=exc.hint,
                exit_code=getattr(exc, "exit_code", None),
            )
            reporter.log(f"error: {exc.one_line()}")
        except Exception as exc:  # the record must say why, whatever broke
            log.exception("operation %s (%s) crashed", op.id, op.kind)
            op.state = OperationState.FAILED
            op.error = ErrorBody(
                code="internal",
                message=f"internal error: {type(exc).__name__}: {exc}",
                hint="see the daemon log; this is a banger bug",
            )
        op.ended_at = _now()
        self._changed(tracked, persist=True)

    def _changed(self, tracked: _Tracked, *, persist: bool) -> None:
        now = time.monotonic()
        if persist or now - tracked.persisted_at >= _PERSIST_INTERVAL:
            tracked.persisted_at = now
            self.store.save(tracked.op)
        with tracked.changed:
            tracked.version += 1
            tracked.changed.notify_all()

    def get(self, op_id: str) -> Operation:
        tracked = self._live.get(op_id)
        if tracked is not None:
            return tracked.op.model_copy(deep=True)
        op = self.store.get(op_id)
        if op is None:
            raise NotFound(f"no operation with id '{op_id}'", hint="list them: banger ops list")
        return op

    def list(self, owner_uid: int | None = None) -> list[Operation]:
        """The newest operations: all of them, or only those of `owner_uid`."""
        live = {op_id: t.op.model_copy(deep=True) for op_id, t in list(self._live.items())}
        return [live.get(op.id, op) for op in self.store.list(owner_uid=owner_uid)]

    def log(self, op_id: str) -> list[str]:
        self.get(op_id)
        return self.store.log(op_id)

    def cancel(self, op_id: str) -> Operation:
        op = self.get(op_id)
        tracked = self._live.get(op_id)
        if tracked is None or op.state in TERMINAL_STATES:
            return op
        tracked.cancel.set()
        for hook in list(tracked.cancel_hooks):
            try:
                hook()
            except Exception:  # a failing hook must not stop the others
                log.exception("cancel hook of %s failed", op_id)
        self._changed(tracked, persist=True)
        return self.get(op_id)

    def wait(self, op_id: str, timeout: float | None = None) -> Operation:
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self.events(op_id):
            if event.operation.state in TERMINAL_STATES:
                return event.operation
            if deadline is not None and time.monotonic() > deadline:
                break
        return self.get(op_id)

    def events(self, op_id: str, heartbeat: float = 1.0) -> Iterator[OperationEvent]:
        """Snapshots with the new log lines, until the operation ends (then one last one)."""
        op = self.get(op_id)
        tracked = self._live.get(op_id)
        if tracked is None:
            yield OperationEvent(operation=op, log=self.store.log(op_id))
            return
        sent = 0
        seen = -1
        while True:
            with tracked.changed:
                if tracked.version == seen:
                    tracked.changed.wait(heartbeat)
                seen = tracked.version
            snapshot = tracked.op.model_copy(deep=True)
            lines, sent = tracked.log.since(sent)
            yield OperationEvent(operation=snapshot, log=lines)
            if snapshot.state in TERMINAL_STATES:
                return
