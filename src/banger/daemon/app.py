"""The FastAPI application: routes under /v1, errors as {code, message, hint}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from banger import __version__
from banger.api import API_PREFIX
from banger.daemon import openapi
from banger.daemon.body_limit import BodyLimit
from banger.daemon.invalid_request import request_error_line
from banger.daemon.routes import all_routers
from banger.daemon.services import Services
from banger.errors import BangerError

_HINT = "see the API document: GET /v1/openapi.json (docs/api.md)"


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
            "message": request_error_line(exc.errors()),
            "hint": "check the command's --help for valid values, or " + _HINT,
        }
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def _no_route(request: Request, exc: HTTPException) -> JSONResponse:
        """No route for this path (404) or this method (405): banger's error body too."""
        if exc.status_code == 404:
            body = {"code": "not_found", "message": f"no route {request.url.path}", "hint": _HINT}
            return JSONResponse(body, status_code=404)
        if exc.status_code != 405:  # Starlette's own refusals: keep the status, banger's body
            code = "invalid_argument" if exc.status_code < 500 else "internal"
            body = {"code": code, "message": str(exc.detail), "hint": _HINT}
            return JSONResponse(body, status_code=exc.status_code)
        allowed = openapi.allowed_methods(app.openapi(), request.url.path)
        message = f"{request.method} is not allowed on {request.url.path}"
        body = {"code": "method_not_allowed", "message": message, "hint": _HINT}
        return JSONResponse(body, status_code=405, headers={"Allow": ", ".join(allowed)})

    for router in all_routers():
        app.include_router(router, prefix=API_PREFIX, responses=openapi.ANY_ROUTE)
    openapi.install(app, services.config.limits)
    return app
