"""Images: register, promote, bootstrap, pull, build, list, show, share, delete (owner-scoped);
the blob cache."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from banger.api.models import Image, Operation
from banger.api.requests import ImageBootstrap, ImageBuild, ImagePull, ImageRegister
from banger.daemon.access import request_caller
from banger.daemon.limits import check_request
from banger.daemon.openapi import errors
from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services
from banger.errors import PermissionDenied
from banger.oci import BlobEntry

router = APIRouter(prefix="/images", tags=["images"])


@router.get("", response_model=list[Image])
def list_images(svc: Services = Depends(services), who: Actor = Depends(actor)) -> list[Image]:
    return svc.image_service.list(who)


@router.post("/register", response_model=Image, status_code=201, responses=errors(404, 409, 412))
def register_image(
    body: ImageRegister,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Image:
    return svc.image_service.register(body, who, request_caller(request))


@router.post(
    "/bootstrap", response_model=Operation, status_code=202, responses=errors(404, 409, 412)
)
def bootstrap_image(
    body: ImageBootstrap, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    check_request(body, svc.config.limits, svc.layout.images)
    return svc.image_service.start_bootstrap(body, who)


@router.post("/pull", response_model=Operation, status_code=202, responses=errors(404, 409, 412))
def pull_image(
    body: ImagePull,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    check_request(body, svc.config.limits, svc.layout.images)
    return svc.pull_service.start_pull(body, who, request_caller(request))


@router.post("/build", response_model=Operation, status_code=202, responses=errors(404, 409, 412))
def build_image(
    body: ImageBuild,
    request: Request,
    svc: Services = Depends(services),
    who: Actor = Depends(actor),
) -> Operation:
    check_request(body, svc.config.limits, svc.layout.images)
    return svc.build_service.start_build(body, who, request_caller(request))


@router.get("/{name}", response_model=Image, responses=errors(404))
def get_image(name: str, svc: Services = Depends(services), who: Actor = Depends(actor)) -> Image:
    return svc.image_service.show(name, who)


@router.post(
    "/{name}/promote", response_model=Operation, status_code=202, responses=errors(404, 409)
)
def promote_image(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Operation:
    return svc.image_service.start_promote(name, who)


@router.post("/{name}/share", response_model=Image, responses=errors(404))
def share_image(name: str, svc: Services = Depends(services), who: Actor = Depends(actor)) -> Image:
    """Every member may then list, show, boot and build from it (never change it)."""
    return svc.image_service.set_shared(name, who, True)


@router.post("/{name}/unshare", response_model=Image, responses=errors(404))
def unshare_image(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Image:
    """Only its owner (and admins) see it again; VMs others made from it keep working."""
    return svc.image_service.set_shared(name, who, False)


@router.delete("/{name}", response_model=Image, responses=errors(404, 409))
def delete_image(
    name: str, svc: Services = Depends(services), who: Actor = Depends(actor)
) -> Image:
    return svc.image_service.delete(name, who)


cache_router = APIRouter(prefix="/image-cache", tags=["images"])


def _cache_admin(who: Actor) -> None:
    """The blob cache is shared by every member: its listing shows what others pulled, and
    a prune drops what others are about to reuse. Root and the admin group only."""
    if not who.admin:
        raise PermissionDenied(
            "the image cache is shared by all users: only root and the daemon's "
            "admin_group may list or prune it",
            hint="ask an admin to run `banger image cache prune`; your own images are in "
            "`banger image list`",
        )


@cache_router.get("", response_model=list[BlobEntry])
def list_cache(svc: Services = Depends(services), who: Actor = Depends(actor)) -> list[BlobEntry]:
    _cache_admin(who)
    return svc.pull_service.cache_entries()


@cache_router.post("/prune")
def prune_cache(svc: Services = Depends(services), who: Actor = Depends(actor)) -> dict[str, int]:
    _cache_admin(who)
    return {"freed_bytes": svc.pull_service.prune()}
