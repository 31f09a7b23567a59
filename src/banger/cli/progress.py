"""Follow a tracked operation live: rich progress bars per task, log lines, Ctrl-C cancels."""

from __future__ import annotations

from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from banger.api.models import Operation, OperationState
from banger.cli.output import err_console
from banger.client import Client
from banger.client.http import error_from_body
from banger.errors import Cancelled


def _columns(show: bool) -> list[Any]:
    return [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn() if show else TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    ]


def follow(client: Client, op: dict[str, Any] | Operation, *, quiet: bool = False) -> Operation:
    """Stream the operation until it ends; raise its error if it failed."""
    op_id = op["id"] if isinstance(op, dict) else op.id
    last: Operation | None = None
    bars: dict[str, TaskID] = {}
    progress = Progress(*_columns(True), console=err_console(), transient=True, disable=quiet)
    try:
        with progress:
            for event in client.events(op_id):
                last = event.operation
                for line in event.log:
                    # The final "error: ..." line is the error this command prints anyway.
                    if not quiet and not line.startswith("error: "):
                        progress.console.print(f"[dim]{line}[/dim]", markup=True, highlight=False)
                items = {"": last.progress, **last.tasks}
                for name, value in items.items():
                    label = name or (last.stage or last.kind)
                    if name not in bars:
                        bars[name] = progress.add_task(label, total=value.total, message="")
                    progress.update(
                        bars[name],
                        description=label,
                        completed=value.current,
                        total=value.total,
                        message=value.message,
                    )
    except KeyboardInterrupt:
        client.post(f"/operations/{op_id}/cancel")
        raise Cancelled(
            f"cancelled operation {op_id}", hint=f"see: banger ops show {op_id}"
        ) from None
    if last is None:
        last = Operation.model_validate(client.get(f"/operations/{op_id}"))
    if last.state is not OperationState.SUCCEEDED:
        body = last.error.model_dump() if last.error else {"message": f"operation {last.state}"}
        raise error_from_body(500, body)
    return last
