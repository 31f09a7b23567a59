"""The /v1 routes, one module per resource."""

from fastapi import APIRouter

from banger.daemon.routes import operations, system


def all_routers() -> list[APIRouter]:
    return [system.router, operations.router]
