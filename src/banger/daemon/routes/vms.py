"""VMs: create, start, stop, restart, delete, list, show, console; each only the caller's own
(root and admins: all), anyone else's VM is not found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from banger.api.models import VM, Operation
from banger.api.requests import VMCreate
from banger.daemon.limits import check_request
from banger.daemon.openapi import errors
from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services
from banger.guest import console_log

router = APIRouter(prefix="/vms", tags=["vms"])


@router.get("", response_model=list[VM])
def list_vms(svc: Services = Depends(services), who: Actor = Depends(actor)) -> list[VM]:
    return svc.vm_service.list(who)


@router.post("", response_model=Operation, status_code=202, responses=errors(404, 409, 412))
def create_vm(
    body: VMCreate, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    check_request(body, svc.config.limits, svc.layout.vms)
    return svc.vm_service.start_create(body, who)


@router.get("/{name}", response_model=VM, responses=errors(404))
def get_vm(name: str, svc: Services = Depends(services), who: Actor = Depends(actor)) -> VM:
    return svc.vm_service.find(name, who)


@router.post(
    "/{name}/start", response_model=Operation, status_code=202, responses=errors(404, 409, 412)
)
def start_vm(
    name: str,
    wait: bool = False,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    return svc.vm_service.start_start(name, wait, who)


@router.post("/{name}/stop", response_model=Operation, status_code=202, responses=errors(404, 409))
def stop_vm(
    name: str,
    force: bool = False,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    return svc.vm_service.start_stop(name, force, who)


@router.post(
    "/{name}/restart", response_model=Operation, status_code=202, responses=errors(404, 409, 412)
)
def restart_vm(
    name: str,
    wait: bool = False,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    return svc.vm_service.start_restart(name, wait, who)


@router.delete("/{name}", response_model=VM, responses=errors(404, 409))
def delete_vm(
    name: str,
    force: bool = False,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> VM:
    return svc.vm_service.delete(name, force, who)


CONSOLE_CHUNK = 1 << 20  # read (and held) per step of a console stream


def _start_offset(path: Path, tail: int) -> int:
    return max(0, console_log.end(path) - tail)


def _read_from(path: Path, offset: int) -> tuple[bytes, int]:
    """The next chunk from logical `offset` (the daemon trims long consoles in place)."""
    data, after, skipped = console_log.read(path, offset, CONSOLE_CHUNK)
    if skipped:
        data = (
            f"\n[banger: {skipped} bytes of console trimmed before they were sent]\n".encode()
            + data
        )
    return data, after


@router.get("/{name}/console", response_class=PlainTextResponse, responses=errors(404))
async def console(
    name: str,
    follow: bool = False,
    tail: int = Query(default=200_000, ge=0, le=50_000_000, description="bytes from the end"),
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> StreamingResponse:
    """The serial console log; with follow=true, keep streaming while the VM runs."""
    # SQLite and file reads happen in the thread pool, never on the event loop.
    vm_id, path = await run_in_threadpool(svc.vm_service.console, name, who)

    async def chunks() -> AsyncIterator[bytes]:
        offset = await run_in_threadpool(_start_offset, path, tail)
        while True:
            data, offset = await run_in_threadpool(_read_from, path, offset)
            if data:
                yield data
                if len(data) >= CONSOLE_CHUNK:
                    continue  # more is waiting: no pause
            current = await run_in_threadpool(svc.vms.get, vm_id)
            if not follow or current is None or not current.is_active:
                return
            await asyncio.sleep(0.3)

    return StreamingResponse(chunks(), media_type="text/plain")
