"""Tracked operations: list, show, log, live NDJSON stream, cancel — each only the caller's
own (root and admins: all); anyone else's operation is not found."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from banger.api.models import Operation, OperationEvent, OperationLog
from banger.daemon.openapi import errors
from banger.daemon.owners import Access, Actor, Verdict, decide
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services
from banger.errors import NotFound

router = APIRouter(prefix="/operations", tags=["operations"])


def _own(svc: Services, op_id: str, who: Actor) -> Operation:
    """The operation if it is `who`'s to see and act on; else exactly a missing one's error."""
    op = svc.ops.get(op_id)
    if decide(who, op.owner_uid, False, Access.MANAGE) is not Verdict.ALLOW:
        raise NotFound(f"no operation with id '{op_id}'", hint="list them: banger ops list")
    return op


@router.get("", response_model=list[Operation])
def list_operations(
    svc: Services = Depends(services), who: Actor = Depends(actor)
) -> list[Operation]:
    return svc.ops.list(owner_uid=who.list_scope)


@router.get("/{op_id}", response_model=Operation, responses=errors(404))
def get_operation(
    op_id: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    return _own(svc, op_id, who)


@router.get("/{op_id}/log", response_model=OperationLog, responses=errors(404))
def operation_log(
    op_id: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> OperationLog:
    _own(svc, op_id, who)
    return OperationLog(id=op_id, lines=svc.ops.log(op_id))


@router.get(
    "/{op_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "model": OperationEvent},
        **errors(404),
    },
)
def operation_events(
    op_id: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> StreamingResponse:
    """NDJSON: one OperationEvent per line until the operation ends."""
    _own(svc, op_id, who)  # 404 before the stream starts

    def lines() -> Iterator[str]:
        for event in svc.ops.events(op_id):
            yield event.model_dump_json() + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post("/{op_id}/cancel", response_model=Operation, responses=errors(404))
def cancel_operation(
    op_id: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    _own(svc, op_id, who)
    return svc.ops.cancel(op_id)
