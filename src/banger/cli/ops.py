"""`banger ops list|show|cancel|wait`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from banger.cli import views
from banger.cli.context import JSON_OPTION, state, wants_json

if TYPE_CHECKING:
    from banger.api.models import Operation

app = typer.Typer(help="Tracked long-running operations (pulls, builds, creates, imports).")


def _operation(data: Any) -> Operation:
    from banger.api.models import Operation  # pydantic: in the verbs that use it, not at import

    return Operation.model_validate(data)


@app.command("list")
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List operations, newest first."""
    views.ops_list(state(ctx), as_json=wants_json(ctx, json))


@app.command()
def show(ctx: typer.Context, op_id: str, json: bool = JSON_OPTION) -> None:
    """Show one operation with its log."""
    views.ops_show(state(ctx), op_id, as_json=wants_json(ctx, json))


@app.command()
def cancel(ctx: typer.Context, op_id: str) -> None:
    """Ask a running operation to stop; its work rolls back."""
    op = _operation(state(ctx).client.post(f"/operations/{op_id}/cancel"))
    typer.echo(f"{op.id}: {op.state}")


@app.command()
def wait(ctx: typer.Context, op_id: str) -> None:
    """Follow an operation live until it ends (non-zero exit if it failed)."""
    from banger.cli.progress import follow

    op = follow(state(ctx).client, {"id": op_id}, quiet=state(ctx).json)
    typer.echo(f"{op.id}: {op.state}")
