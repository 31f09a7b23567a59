"""Persistence of operation records and their logs."""

from __future__ import annotations

import json

from banger.api.models import ErrorBody, Operation, Progress
from banger.store.db import Database


def _row_to_operation(row: object) -> Operation:
    r = dict(row)  # type: ignore[call-overload]
    return Operation(
        id=r["id"],
        kind=r["kind"],
        owner_uid=r["owner_uid"],
        target=r["target"],
        state=r["state"],
        stage=r["stage"],
        progress=Progress.model_validate_json(r["progress"]),
        tasks={k: Progress.model_validate(v) for k, v in json.loads(r["tasks"]).items()},
        error=ErrorBody.model_validate_json(r["error"]) if r["error"] else None,
        result=json.loads(r["result"]) if r["result"] else None,
        created_at=r["created_at"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
    )


def dropped_note(count: int) -> str:
    """The line standing where a long operation log dropped `count` lines."""
    return (
        f"[banger: {count} log lines dropped here; an operation keeps only its first and "
        "last lines (config limits.operation_log_lines)]"
    )


class OperationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, op: Operation) -> None:
        self.db.execute(
            """INSERT INTO operations (id, kind, owner_uid, target, state, stage, progress, tasks,
                   error, result, created_at, started_at, ended_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(id) DO UPDATE SET state=excluded.state, stage=excluded.stage,
                   progress=excluded.progress, tasks=excluded.tasks, error=excluded.error,
                   result=excluded.result, started_at=excluded.started_at,
                   ended_at=excluded.ended_at""",
            (
                op.id,
                op.kind,
                op.owner_uid,
                op.target,
                op.state,
                op.stage,
                op.progress.model_dump_json(),
                json.dumps({k: v.model_dump() for k, v in op.tasks.items()}),
                op.error.model_dump_json() if op.error else None,
                json.dumps(op.result) if op.result is not None else None,
                op.created_at.isoformat(),
                op.started_at.isoformat() if op.started_at else None,
                op.ended_at.isoformat() if op.ended_at else None,
            ),
        )

    def get(self, op_id: str) -> Operation | None:
        rows = self.db.query("SELECT * FROM operations WHERE id = ?", (op_id,))
        return _row_to_operation(rows[0]) if rows else None

    def list(self, limit: int = 200, owner_uid: int | None = None) -> list[Operation]:
        """The newest `limit` operations, of one owner only when `owner_uid` is given
        (filtered before the limit, so a busy neighbour cannot push yours out)."""
        if owner_uid is None:
            rows = self.db.query(
                "SELECT * FROM operations ORDER BY created_at DESC, id LIMIT ?", (limit,)
            )
        else:
            rows = self.db.query(
                "SELECT * FROM operations WHERE owner_uid = ? ORDER BY created_at DESC, id LIMIT ?",
                (owner_uid, limit),
            )
        return [_row_to_operation(r) for r in rows]

    def append_log(self, op_id: str, seq: int, line: str) -> None:
        self.db.execute(
            "INSERT INTO operation_logs (operation_id, seq, line) VALUES (?,?,?)",
            (op_id, seq, line),
        )

    def delete_log_line(self, op_id: str, seq: int) -> None:
        """Forget one line (it left the kept tail of a long log)."""
        self.db.execute(
            "DELETE FROM operation_logs WHERE operation_id = ? AND seq = ?", (op_id, seq)
        )

    def log(self, op_id: str) -> list[str]:
        """The stored lines in order, with a note wherever lines were dropped."""
        rows = self.db.query(
            "SELECT seq, line FROM operation_logs WHERE operation_id = ? ORDER BY seq", (op_id,)
        )
        lines: list[str] = []
        last = 0
        for row in rows:
            if row["seq"] > last + 1:
                lines.append(dropped_note(row["seq"] - last - 1))
            lines.append(row["line"])
            last = row["seq"]
        return lines

    def fail_unfinished(self, reason: str, now: str) -> int:
        """At daemon start: no operation can still be running, so record why it ended."""
        error = ErrorBody(code="interrupted", message=reason, hint="run the command again")
        return self.db.execute(
            """UPDATE operations SET state='failed', error=?, ended_at=?
               WHERE state IN ('queued','running')""",
            (error.model_dump_json(), now),
        )

    def delete_finished_before(self, cutoff: str) -> int:
        """Delete records (and, by cascade, logs) of operations that ended before cutoff."""
        return self.db.execute(
            """DELETE FROM operations
               WHERE state IN ('succeeded','failed','cancelled') AND ended_at < ?""",
            (cutoff,),
        )
