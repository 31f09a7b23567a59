"""The /v1 routes, one module per resource."""

from fastapi import APIRouter

from banger.daemon.routes import images, kernels, network, operations, system, vms


def all_routers() -> list[APIRouter]:
    return [
        system.router,
        operations.router,
        kernels.router,
        images.router,
        images.cache_router,
        vms.router,
        network.router,
    ]
