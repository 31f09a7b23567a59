"""The OpenAPI document at /v1/openapi.json, made to tell the truth about errors and limits.

Every route answers errors as one `ErrorBody` ({code, message, hint}); `errors(...)` names
the statuses a route can answer on top of those any route can (`ANY_ROUTE`). FastAPI's own
422 entries are removed: bangerd answers a request that fails validation with 400. The
configured [limits] become the `maximum` of the request fields they bound, so a request the
document allows is not refused for its size (only for the state: free space, names taken).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from banger.api.models import ErrorBody
from banger.config.models import LimitSettings

_WHY = {
    400: "The request is malformed: a field, query or path parameter breaks its rule (the "
    "message names it), or Content-Length is not a number.",
    403: "The caller may not do this: not root and not in the socket group (SO_PEERCRED), "
    "an admin-only route, or someone else's shared object.",
    404: "No such object (or not the caller's to see: the same answer as a missing one).",
    409: "The request clashes with the state: a name taken, an object in use or in the "
    "wrong state (a VM already running, an image already managed).",
    411: "The request body has no declared length (chunked bodies are refused).",
    412: "The host or the state lacks what the request needs: free space, a tool, a file "
    "in the form asked for.",
    413: "The request body is above [limits] max_request_bytes.",
    500: "banger failed unexpectedly, or a tool it ran failed (code command_failed).",
    503: "Something banger talks to (a VMM, a registry) did not answer.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of a route for these error statuses, with the shared body."""
    return {status: {"model": ErrorBody, "description": _WHY[status]} for status in statuses}


# What any route can answer whatever it does: the peer check refuses (403) before routing,
# the body limit (400, 411, 413) before validation, and an unexpected failure is a 500.
ANY_ROUTE = errors(400, 403, 411, 413, 500)

# Request fields bounded by a [limits] setting, by schema name.
_LIMITED = {
    "VMCreate": {
        "cpus": "max_cpus",
        "memory_mib": "max_memory_mib",
        "disk_size_mib": "max_disk_mib",
    },
    "ImageBootstrap": {"free_mib": "max_disk_mib"},
    "ImagePull": {"size_mib": "max_disk_mib", "free_mib": "max_disk_mib"},
    "ImageBuild": {
        "cpus": "max_cpus",
        "memory_mib": "max_memory_mib",
        "size_mib": "max_disk_mib",
        "free_mib": "max_disk_mib",
    },
}


def _cap(prop: dict[str, Any], ceiling: int) -> None:
    """Lower the integer `maximum` of a property (plain, or inside its `anyOf` with null)."""
    for variant in [prop, *prop.get("anyOf", [])]:
        if variant.get("type") == "integer":
            variant["maximum"] = min(variant.get("maximum", ceiling), ceiling)


def _apply_limits(schemas: dict[str, Any], limits: LimitSettings) -> None:
    for name, fields in _LIMITED.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field, setting in fields.items():
            if field in properties:
                _cap(properties[field], getattr(limits, setting))


def _fix_error_responses(schema: dict[str, Any]) -> None:
    """No 422 (validation answers 400), and every error is JSON: FastAPI files a route's
    extra responses under the route's own media type (text/plain for a console)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = dict(error)
    schemas = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def allowed_methods(document: dict[str, Any], path: str) -> list[str]:
    """The methods the document lists for `path` (what a 405's Allow names), HEAD with GET.

    Read from the document, so Allow and the document cannot disagree; Starlette's own
    405 names one route's methods only, and GET and DELETE /v1/vms/{name} are two routes.
    As OpenAPI matches paths, a concrete path (/v1/images/register) wins over templated
    ones (/v1/images/{name}).
    """
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    if path in paths:
        methods = {method.upper() for method in paths[path]}
    else:
        methods = set()
        for template, item in paths.items():
            pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                methods |= {method.upper() for method in item}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI, limits: LimitSettings) -> None:
    """Make `app` serve the corrected document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _fix_error_responses(schema)
            _apply_limits(schema.get("components", {}).get("schemas", {}), limits)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
