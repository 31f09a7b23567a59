"""Images: register, promote, bootstrap, pull, build, list, show, delete, blob cache."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from banger.api.models import Image, Operation
from banger.api.requests import ImageBootstrap, ImageBuild, ImagePull, ImageRegister
from banger.daemon.access import require_readable
from banger.daemon.routes.deps import services
from banger.daemon.services import Services
from banger.oci import BlobEntry

router = APIRouter(prefix="/images", tags=["images"])


@router.get("", response_model=list[Image])
def list_images(svc: Services = Depends(services)) -> list[Image]:
    return svc.images.list()


@router.post("/register", response_model=Image, status_code=201)
def register_image(
    body: ImageRegister, request: Request, svc: Services = Depends(services)
) -> Image:
    for what, path in (
        ("rootfs", body.rootfs),
        ("kernel", body.kernel),
        ("initrd", body.initrd),
        ("modules directory", body.modules),
        ("work seed", body.work_seed),
    ):
        require_readable(request, path, what)
    return svc.image_service.register(body)


@router.post("/bootstrap", response_model=Operation, status_code=202)
def bootstrap_image(body: ImageBootstrap, svc: Services = Depends(services)) -> Operation:
    return svc.image_service.start_bootstrap(body)


@router.post("/pull", response_model=Operation, status_code=202)
def pull_image(body: ImagePull, request: Request, svc: Services = Depends(services)) -> Operation:
    require_readable(request, body.docker_config, "docker config")
    return svc.pull_service.start_pull(body)


@router.post("/build", response_model=Operation, status_code=202)
def build_image(body: ImageBuild, request: Request, svc: Services = Depends(services)) -> Operation:
    for step in body.steps:
        if step.kind == "copy":
            require_readable(request, step.src, "--copy source")
    return svc.build_service.start_build(body)


@router.get("/{name}", response_model=Image)
def get_image(name: str, svc: Services = Depends(services)) -> Image:
    return svc.image_service.get(name)


@router.post("/{name}/promote", response_model=Operation, status_code=202)
def promote_image(name: str, svc: Services = Depends(services)) -> Operation:
    return svc.image_service.start_promote(name)


@router.delete("/{name}", response_model=Image)
def delete_image(name: str, svc: Services = Depends(services)) -> Image:
    return svc.image_service.delete(name)


cache_router = APIRouter(prefix="/image-cache", tags=["images"])


@cache_router.get("", response_model=list[BlobEntry])
def list_cache(svc: Services = Depends(services)) -> list[BlobEntry]:
    return svc.pull_service.cache_entries()


@cache_router.post("/prune")
def prune_cache(svc: Services = Depends(services)) -> dict[str, int]:
    return {"freed_bytes": svc.pull_service.prune()}
