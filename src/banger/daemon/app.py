"""The FastAPI application: routes under /v1, errors as {code, message, hint}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from banger import __version__
from banger.api import API_PREFIX
from banger.api.validation import error_line
from banger.daemon.body_limit import BodyLimit
from banger.daemon.routes import all_routers
from banger.daemon.services import Services
from banger.errors import BangerError


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="bangerd",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.add_middleware(BodyLimit, max_bytes=services.config.limits.max_request_bytes)

    @app.exception_handler(BangerError)
    async def _banger_error(_: Request, exc: BangerError) -> JSONResponse:
        body = {"code": exc.code, "message": exc.message, "hint": exc.hint}
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        body = {
            "code": "invalid_argument",
            "message": error_line(exc.errors()),
            "hint": "check the command's --help for valid values",
        }
        return JSONResponse(body, status_code=400)

    for router in all_routers():
        app.include_router(router, prefix=API_PREFIX)
    return app
