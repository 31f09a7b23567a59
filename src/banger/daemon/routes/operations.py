"""Tracked operations: list, show, log, live NDJSON stream, cancel."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from banger.api.models import Operation, OperationEvent, OperationLog
from banger.daemon.routes.deps import services
from banger.daemon.services import Services

router = APIRouter(prefix="/operations", tags=["operations"])


@router.get("", response_model=list[Operation])
def list_operations(svc: Services = Depends(services)) -> list[Operation]:
    return svc.ops.list()


@router.get("/{op_id}", response_model=Operation)
def get_operation(op_id: str, svc: Services = Depends(services)) -> Operation:
    return svc.ops.get(op_id)


@router.get("/{op_id}/log", response_model=OperationLog)
def operation_log(op_id: str, svc: Services = Depends(services)) -> OperationLog:
    return OperationLog(id=op_id, lines=svc.ops.log(op_id))


@router.get(
    "/{op_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "model": OperationEvent}},
)
def operation_events(op_id: str, svc: Services = Depends(services)) -> StreamingResponse:
    """NDJSON: one OperationEvent per line until the operation ends."""
    svc.ops.get(op_id)  # 404 before the stream starts

    def lines() -> Iterator[str]:
        for event in svc.ops.events(op_id):
            yield event.model_dump_json() + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post("/{op_id}/cancel", response_model=Operation)
def cancel_operation(op_id: str, svc: Services = Depends(services)) -> Operation:
    return svc.ops.cancel(op_id)
