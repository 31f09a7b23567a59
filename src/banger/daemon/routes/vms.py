"""VMs: create, start, stop, restart, delete, list, show, console."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from banger.api.models import VM, Operation
from banger.api.requests import VMCreate
from banger.daemon.routes.deps import services
from banger.daemon.services import Services

router = APIRouter(prefix="/vms", tags=["vms"])


@router.get("", response_model=list[VM])
def list_vms(svc: Services = Depends(services)) -> list[VM]:
    return svc.vms.list()


@router.post("", response_model=Operation, status_code=202)
def create_vm(body: VMCreate, svc: Services = Depends(services)) -> Operation:
    return svc.vm_service.start_create(body)


@router.get("/{name}", response_model=VM)
def get_vm(name: str, svc: Services = Depends(services)) -> VM:
    return svc.vm_service.get(name)


@router.post("/{name}/start", response_model=Operation, status_code=202)
def start_vm(name: str, wait: bool = False, svc: Services = Depends(services)) -> Operation:
    return svc.vm_service.start_start(name, wait)


@router.post("/{name}/stop", response_model=Operation, status_code=202)
def stop_vm(name: str, force: bool = False, svc: Services = Depends(services)) -> Operation:
    return svc.vm_service.start_stop(name, force)


@router.post("/{name}/restart", response_model=Operation, status_code=202)
def restart_vm(name: str, wait: bool = False, svc: Services = Depends(services)) -> Operation:
    return svc.vm_service.start_restart(name, wait)


@router.delete("/{name}", response_model=VM)
def delete_vm(name: str, force: bool = False, svc: Services = Depends(services)) -> VM:
    return svc.vm_service.delete(name, force)


CONSOLE_CHUNK = 1 << 20  # read (and held) per step of a console stream


def _start_offset(path: Path, tail: int) -> int:
    try:
        return max(0, path.stat().st_size - tail)
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(CONSOLE_CHUNK)
    except FileNotFoundError:
        return b""


@router.get("/{name}/console", response_class=PlainTextResponse)
async def console(
    name: str,
    follow: bool = False,
    tail: int = Query(default=200_000, ge=0, le=50_000_000, description="bytes from the end"),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The serial console log; with follow=true, keep streaming while the VM runs."""
    # SQLite and file reads happen in the thread pool, never on the event loop.
    path = await run_in_threadpool(svc.vm_service.console_path, name)
    vm_id = (await run_in_threadpool(svc.vm_service.get, name)).id

    async def chunks() -> AsyncIterator[bytes]:
        offset = await run_in_threadpool(_start_offset, path, tail)
        while True:
            data = await run_in_threadpool(_read_from, path, offset)
            offset += len(data)
            if data:
                yield data
                if len(data) == CONSOLE_CHUNK:
                    continue  # more is waiting: no pause
            current = await run_in_threadpool(svc.vms.get, vm_id)
            if not follow or current is None or not current.is_active:
                return
            await asyncio.sleep(0.3)

    return StreamingResponse(chunks(), media_type="text/plain")
