"""`banger ops list|show|cancel|wait`."""

from __future__ import annotations

import typer

from banger.api.models import Operation
from banger.cli.context import JSON_OPTION, state, wants_json
from banger.cli.output import print_fields, print_json, print_table
from banger.cli.progress import follow

app = typer.Typer(help="Tracked long-running operations (pulls, builds, creates, imports).")


def _row(op: Operation) -> dict[str, object]:
    done = op.progress
    pct = f"{100 * done.current // done.total}%" if done.total else ""
    return {
        "id": op.id,
        "kind": op.kind,
        "owner": op.owner,
        "target": op.target,
        "state": op.state,
        "stage": op.stage,
        "progress": pct,
        "created": op.created_at.strftime("%F %T"),
    }


@app.command("list")
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List operations, newest first."""
    ops = [Operation.model_validate(o) for o in state(ctx).client.get("/operations")]
    if wants_json(ctx, json):
        print_json(ops)
        return
    cols = ["id", "kind", "owner", "target", "state", "stage", "progress", "created"]
    print_table([_row(o) for o in ops], cols, empty="no operations")


@app.command()
def show(ctx: typer.Context, op_id: str, json: bool = JSON_OPTION) -> None:
    """Show one operation with its log."""
    client = state(ctx).client
    op = Operation.model_validate(client.get(f"/operations/{op_id}"))
    lines = client.get(f"/operations/{op_id}/log")["lines"]
    if wants_json(ctx, json):
        print_json({**op.model_dump(mode="json"), "log": lines})
        return
    data = _row(op)
    data["error"] = op.error.message if op.error else None
    data["ended"] = op.ended_at.strftime("%F %T") if op.ended_at else None
    print_fields(data)
    for line in lines[-40:]:
        typer.echo(f"  | {line}")


@app.command()
def cancel(ctx: typer.Context, op_id: str) -> None:
    """Ask a running operation to stop; its work rolls back."""
    op = Operation.model_validate(state(ctx).client.post(f"/operations/{op_id}/cancel"))
    typer.echo(f"{op.id}: {op.state}")


@app.command()
def wait(ctx: typer.Context, op_id: str) -> None:
    """Follow an operation live until it ends (non-zero exit if it failed)."""
    op = follow(state(ctx).client, {"id": op_id}, quiet=state(ctx).json)
    typer.echo(f"{op.id}: {op.state}")
