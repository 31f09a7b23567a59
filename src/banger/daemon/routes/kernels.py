"""Kernels: import, fetch, list, show, share, unshare, delete (owner-scoped)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelFetch, KernelImport
from banger.daemon.access import request_caller, require_absolute
from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services

router = APIRouter(prefix="/kernels", tags=["kernels"])


@router.get("", response_model=list[Kernel])
def list_kernels(svc: Services = Depends(services), who: Actor = Depends(actor)) -> list[Kernel]:
    return svc.kernel_service.list(who)


@router.post("/import", response_model=Operation, status_code=202)
def import_kernel(
    body: KernelImport,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    # No permission check here: the import reads these paths as the caller (SO_PEERCRED),
    # so the kernel itself decides, at the moment of reading, symlinks included.
    require_absolute(body.source, "kernel source")
    require_absolute(body.modules_dir, "modules directory")
    require_absolute(body.initrd, "initrd")
    return svc.kernel_service.start_import(body, request_caller(request), who)


@router.post("/fetch", response_model=Operation, status_code=202)
def fetch_kernel(
    body: KernelFetch, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    return svc.kernel_service.start_fetch(body, who)


@router.get("/{name}", response_model=Kernel)
def get_kernel(name: str, svc: Services = Depends(services), who: Actor = Depends(actor)) -> Kernel:
    return svc.kernel_service.find(name, who)


@router.post("/{name}/share", response_model=Kernel)
def share_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.set_shared(name, who, True)


@router.post("/{name}/unshare", response_model=Kernel)
def unshare_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.set_shared(name, who, False)


@router.delete("/{name}", response_model=Kernel)
def delete_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.delete(name, who)
