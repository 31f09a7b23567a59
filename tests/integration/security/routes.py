"""The daemon's route table, read from its own OpenAPI document, classified for the sweep.

Nothing here lists routes by hand: every route the daemon serves is found in
/v1/openapi.json. What is written by hand is how to read a route's parts (which object a
path parameter names, which body fields name existing objects). A route, path parameter
or body field this module cannot classify fails the sweep, so a route added later is
attacked the moment it exists, or the sweep says what it must be taught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API = "/v1"
MUTATING = {"post", "put", "patch", "delete"}

# First path segment -> the kind of object a path parameter under it names.
KIND_OF_SEGMENT = {"vms": "vm", "images": "image", "kernels": "kernel", "operations": "operation"}

# Body fields that name an existing object the caller must be allowed to use.
REFERENCE_FIELDS = {"image": "image", "from_image": "image", "kernel_ref": "kernel"}
# Body fields that name no existing object (host paths are attacked in test_host_paths.py;
# `name` is the new object's name, attacked as a name clash).
PLAIN_FIELDS = {
    "name", "rootfs", "kernel_file", "initrd", "modules", "work_seed", "source",
    "modules_dir", "distro", "suite", "free_mib", "packages", "ref", "platform", "size_mib",
    "insecure", "docker_config", "cpus", "memory_mib", "disk_size_mib", "backend", "start",
    "wait", "ssh_public_key", "steps", "env", "timeout_s", "via",
}  # fmt: skip

# GET routes without a path parameter that list nobody's objects (no call needed: /doctor
# runs host probes).
NOT_ABOUT_OBJECTS = {"/version", "/doctor"}
# Mutating routes without path parameter or body: (expected status for a plain member, why).
GLOBAL_ACTIONS = {
    "/network/teardown": (403, "host plumbing every user's VMs share: admins only"),
    "/image-cache/prune": (403, "the blob cache holds every user's layers: admins only"),
}


@dataclass(frozen=True)
class Route:
    method: str  # lower case, as OpenAPI spells it
    path: str  # under /v1, e.g. /vms/{name}/stop
    path_params: tuple[str, ...]
    bool_query: tuple[str, ...]
    body_schema: str | None  # components/schemas name of a JSON body

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    @property
    def segment(self) -> str:
        return self.path.strip("/").split("/")[0]

    def __str__(self) -> str:
        return f"{self.method.upper()} {API}{self.path}"


def routes_of(spec: dict[str, Any]) -> list[Route]:
    found = []
    for full, item in spec["paths"].items():
        assert full.startswith(API + "/"), full
        for method, op in item.items():
            params = op.get("parameters", [])
            schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {})).get(
                "schema", {}
            )
            found.append(
                Route(
                    method=method,
                    path=full[len(API) :],
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    bool_query=tuple(
                        p["name"]
                        for p in params
                        if p["in"] == "query" and p["schema"].get("type") == "boolean"
                    ),
                    body_schema=schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None,
                )
            )
    return found


def kind_of(route: Route) -> str:
    """The kind of object the route's one path parameter names."""
    assert len(route.path_params) == 1, f"{route}: teach the sweep several path parameters"
    assert route.segment in KIND_OF_SEGMENT, f"{route}: teach the sweep what /{route.segment} is"
    assert route.body_schema is None, f"{route}: teach the sweep a body with a path parameter"
    return KIND_OF_SEGMENT[route.segment]


def body_fields(spec: dict[str, Any], schema: str) -> dict[str, str | None]:
    """Each property of a request body -> the kind of object it references (None: none).
    Fails on a property the sweep does not know, so a new reference cannot slip by."""
    properties = spec["components"]["schemas"][schema]["properties"]
    fields: dict[str, str | None] = {}
    for name in properties:
        if name in REFERENCE_FIELDS:
            fields[name] = REFERENCE_FIELDS[name]
        else:
            assert name in PLAIN_FIELDS, (
                f"{schema}.{name}: teach the sweep whether it names an object"
            )
            fields[name] = None
    return fields
