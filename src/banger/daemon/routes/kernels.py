"""Kernels: import, fetch, list, show, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelFetch, KernelImport
from banger.daemon.access import require_readable
from banger.daemon.routes.deps import services
from banger.daemon.services import Services

router = APIRouter(prefix="/kernels", tags=["kernels"])


@router.get("", response_model=list[Kernel])
def list_kernels(svc: Services = Depends(services)) -> list[Kernel]:
    return svc.kernels.list()


@router.post("/import", response_model=Operation, status_code=202)
def import_kernel(
    body: KernelImport, request: Request, svc: Services = Depends(services)
) -> Operation:
    require_readable(request, body.source, "kernel source")
    require_readable(request, body.modules_dir, "modules directory")
    require_readable(request, body.initrd, "initrd")
    return svc.kernel_service.start_import(body)


@router.post("/fetch", response_model=Operation, status_code=202)
def fetch_kernel(body: KernelFetch, svc: Services = Depends(services)) -> Operation:
    return svc.kernel_service.start_fetch(body)


@router.get("/{name}", response_model=Kernel)
def get_kernel(name: str, svc: Services = Depends(services)) -> Kernel:
    return svc.kernel_service.get(name)


@router.delete("/{name}", response_model=Kernel)
def delete_kernel(name: str, svc: Services = Depends(services)) -> Kernel:
    return svc.kernel_service.delete(name)
