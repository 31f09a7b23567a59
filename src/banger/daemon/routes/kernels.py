"""Kernels: import, fetch, pull, publish, list, show, share, unshare, delete (owner-scoped)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelFetch, KernelImport, KernelPublish, KernelPull
from banger.daemon.access import request_caller
from banger.daemon.openapi import errors
from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services

router = APIRouter(prefix="/kernels", tags=["kernels"])


@router.get("", response_model=list[Kernel])
def list_kernels(svc: Services = Depends(services), who: Actor = Depends(actor)) -> list[Kernel]:
    return svc.kernel_service.list(who)


@router.post("/import", response_model=Operation, status_code=202, responses=errors(409))
def import_kernel(
    body: KernelImport,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    # No permission check here: the import reads these paths as the caller (SO_PEERCRED),
    # so the kernel itself decides, at the moment of reading, symlinks included. That they
    # are absolute is the request model's rule (api.requests.HostPath).
    return svc.kernel_service.start_import(body, request_caller(request), who)


@router.post("/fetch", response_model=Operation, status_code=202, responses=errors(409))
def fetch_kernel(
    body: KernelFetch, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    return svc.kernel_service.start_fetch(body, who)


@router.post("/pull", response_model=Operation, status_code=202, responses=errors(409))
def pull_kernel(
    body: KernelPull,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    """Pull a catalog kernel (or an ignite-style kernel image) into a kernel of the caller's."""
    return svc.kernel_catalog.start_pull(body, who, request_caller(request))


@router.post("/{name}/publish", response_model=Operation, status_code=202, responses=errors(404))
def publish_kernel(
    name: str,
    request: Request,
    body: KernelPublish | None = None,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    """Push the caller's kernel to a registry tag as a catalog artifact.

    The body is checked after the kernel: someone else's kernel is refused exactly like a
    missing one, whatever the body says (or lacks)."""
    return svc.kernel_catalog.start_publish(name, body, who, request_caller(request))


@router.get("/{name}", response_model=Kernel, responses=errors(404))
def get_kernel(name: str, svc: Services = Depends(services), who: Actor = Depends(actor)) -> Kernel:
    return svc.kernel_service.find(name, who)


@router.post("/{name}/share", response_model=Kernel, responses=errors(404))
def share_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.set_shared(name, who, True)


@router.post("/{name}/unshare", response_model=Kernel, responses=errors(404))
def unshare_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.set_shared(name, who, False)


@router.delete("/{name}", response_model=Kernel, responses=errors(404, 409))
def delete_kernel(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Kernel:
    return svc.kernel_service.delete(name, who)
