"""Every route of the daemon, tried by member B on member A's objects.

The routes come from the daemon's own OpenAPI document (routes.py), so a route added later
is attacked without anyone editing this file. The rules, for a plain member B:
- a path parameter naming A's unshared VM, image, kernel or operation (by name or id) gets
  exactly the 404 of a name nobody ever used;
- on A's shared image or kernel, reading succeeds and every change is a 403;
- a body field naming A's unshared object fails exactly like one naming a missing object;
  a new object named like one of A's is a 409 that says nothing of A;
- no listing shows B anything of A's but what A shared;
and after every route, A's objects (rows and files) are exactly as they were.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.owners.members import small_ext4
from tests.integration.security.arena import Arena, Call, call, calls, hand_to, root_get
from tests.integration.security.routes import (
    GLOBAL_ACTIONS,
    NOT_ABOUT_OBJECTS,
    Route,
    body_fields,
    kind_of,
    routes_of,
)
from tests.unit.kernels.hostile import kernel_tree

pytestmark = pytest.mark.integration

PLURAL = {"vm": "vms", "image": "images", "kernel": "kernels", "operation": "operations"}
CREATES = {"vms": "vm", "images": "image", "kernels": "kernel"}  # what a POST there names


@dataclass(frozen=True)
class Own:
    """B's own things, so that each attack is otherwise a request B may make."""

    kernel: str
    rootfs: Path
    tree: Path


@pytest.fixture(scope="module")
def spec(host: Arena) -> dict[str, Any]:
    return dict(root_get(host.daemon, "/openapi.json"))


@pytest.fixture(scope="module")
def own(host: Arena) -> Own:
    b = host.b
    tree = hand_to(b, kernel_tree(b.home / "b-kernel"))
    kernel_src = hand_to(b, kernel_tree(b.home / "b-import"))
    name = f"b-kern-{secrets.token_hex(2)}"
    status, op = call(b, host.daemon, Call("POST", "/kernels/import",
                                           body={"name": name, "source": str(kernel_src)},
                                           wait=True))  # fmt: skip
    assert status == 202 and op["state"] == "succeeded", op
    return Own(name, small_ext4(b.home / "b.ext4", b), tree)


def ghost(value: str) -> str:
    """A value of the same shape that names nothing: never-<random> or a random id."""
    if all(c in "0123456789abcdef" for c in value):
        return secrets.token_hex(len(value) // 2 + 1)[: len(value)]
    return f"never-{secrets.token_hex(3)}"


def hidden_targets(host: Arena, kind: str) -> list[str]:
    """A's unshared objects of `kind`, by name and by id."""
    obj = host.objects[kind]
    return [obj["id"]] if kind == "operation" else [obj["name"], obj["id"]]


def stats(root: Path) -> list[tuple[str, int, int, int]]:
    found = []
    for current, dirs, files in os.walk(root):
        for name in sorted([*dirs, *files]):
            st = (Path(current) / name).lstat()
            found.append((os.path.join(current, name), st.st_size, st.st_mtime_ns, st.st_mode))
    return found


def victim_state(host: Arena) -> dict[str, Any]:
    """A's objects as the daemon holds them, and their files on disk."""
    seen: dict[str, Any] = {}
    for role, obj in host.objects.items():
        kind = role.removeprefix("shared-")
        key = obj["id"] if kind == "operation" else obj["name"]
        seen[role] = root_get(host.daemon, f"/{PLURAL[kind]}/{key}")
    state = host.daemon.state_dir
    seen["files"] = [
        stats(state / "vms" / host.objects["vm"]["id"]),
        stats(state / "kernels" / host.objects["kernel"]["id"]),
        stats(state / "kernels" / host.objects["shared-kernel"]["id"]),
        stats(host.a.home),
    ]
    return seen


def same_refusal(route: Route, hidden: tuple[int, Any], missing: tuple[int, Any],
                 target: str, stand_in: str) -> None:  # fmt: skip
    """A hidden object's refusal is word for word a missing one's (names do not leak)."""
    assert hidden[0] == 404, (str(route), target, hidden)
    assert hidden[0] == missing[0], (str(route), hidden, missing)
    assert json.dumps(missing[1]).replace(stand_in, target) == json.dumps(hidden[1]), (
        str(route), hidden, missing,
    )  # fmt: skip


def with_flags(route: Route) -> dict[str, str]:
    """Every boolean flag on (force, wait, follow): the most a caller can ask for."""
    return dict.fromkeys(route.bool_query, "true")


def attack_path_route(host: Arena, route: Route) -> None:
    kind = kind_of(route)
    param = "{" + route.path_params[0] + "}"
    batch, expect = [], []
    for target in hidden_targets(host, kind):
        stand_in = ghost(target)
        for value in (target, stand_in):
            batch.append(Call(route.method.upper(), route.path.replace(param, value),
                              params=with_flags(route)))  # fmt: skip
        expect.append((target, stand_in))
    shared = host.objects.get(f"shared-{kind}")
    if shared is not None:
        batch.append(Call(route.method.upper(), route.path.replace(param, shared["name"]),
                          params=with_flags(route)))  # fmt: skip
    answers = calls(host.b, host.daemon, batch)
    for index, (target, stand_in) in enumerate(expect):
        same_refusal(route, answers[2 * index], answers[2 * index + 1], target, stand_in)
    if shared is not None:
        status, body = answers[-1]
        if route.mutating:  # a shared object is B's to use, never to change
            assert status == 403, (str(route), status, body)
            assert "only its owner or an admin may" in body["message"], body
            assert host.a.name not in body["message"] and str(host.a.uid) not in body["message"]
        else:
            assert status == 200, (str(route), status, body)


def baseline(schema: str, host: Arena, own: Own) -> dict[str, Any]:
    """A request B may legitimately send with this body (never sent as is)."""
    fresh = f"b-new-{secrets.token_hex(3)}"
    usable = host.objects["shared-image"]["name"]
    bodies: dict[str, dict[str, Any]] = {
        "VMCreate": {"name": fresh, "image": usable, "start": False},
        "ImageRegister": {"name": fresh, "rootfs": str(own.rootfs), "kernel_ref": own.kernel},
        "ImageBootstrap": {"name": fresh, "kernel_ref": own.kernel},
        "ImagePull": {"ref": f"{host.registry.address}/nothing/here:v1", "insecure": True,
                      "name": fresh, "kernel_ref": own.kernel},
        "ImageBuild": {"from_image": usable, "name": fresh,
                       "steps": [{"kind": "run", "text": "true"}], "kernel_ref": own.kernel},
        "KernelImport": {"name": fresh, "source": str(own.tree)},
        "KernelFetch": {"name": fresh},
        "KernelPull": {"ref": f"{host.registry.address}/nothing/here:v1", "insecure": True,
                       "name": fresh},
    }  # fmt: skip
    assert schema in bodies, f"teach the sweep a valid {schema} body"
    return bodies[schema]


def attack_body_route(host: Arena, route: Route, spec: dict[str, Any], own: Own) -> None:
    assert route.body_schema is not None
    fields = body_fields(spec, route.body_schema)
    for field, kind in fields.items():
        if kind is None:
            continue
        for target in hidden_targets(host, kind):
            stand_in = ghost(target)
            hidden, missing = (
                Call("POST", route.path, body={**baseline(route.body_schema, host, own), field: v})
                for v in (target, stand_in)
            )
            answers = calls(host.b, host.daemon, [hidden, missing])
            same_refusal(route, answers[0], answers[1], target, stand_in)
    if "name" in fields:
        clash_kind = CREATES[route.segment]
        taken = host.objects[clash_kind]["name"]
        body = {**baseline(route.body_schema, host, own), "name": taken}
        status, answer = call(host.b, host.daemon, Call("POST", route.path, body=body))
        assert status == 409, (str(route), status, answer)
        assert host.a.name not in answer["message"] and str(host.a.uid) not in answer["message"]


def attack_global_action(host: Arena, route: Route) -> None:
    assert route.path in GLOBAL_ACTIONS, f"{route}: teach the sweep who may do this"
    expected, why = GLOBAL_ACTIONS[route.path]
    status, body = call(host.b, host.daemon, Call(route.method.upper(), route.path))
    assert status == expected, (str(route), why, status, body)


def check_listing(host: Arena, route: Route) -> None:
    """A listing holds only B's objects and shared ones; refusing outright leaks nothing."""
    if route.path in NOT_ABOUT_OBJECTS:
        return
    status, body = call(host.b, host.daemon, Call("GET", route.path))
    if status == 403:
        assert host.a.name not in json.dumps(body), body
        return
    assert status == 200 and isinstance(body, list), (str(route), status, body)
    text = json.dumps(body)
    for role in ("vm", "image", "kernel", "operation"):
        obj = host.objects[role]
        assert obj["id"] not in text, (str(route), role)
        assert role == "operation" or obj["name"] not in text, (str(route), role)
    for entry in body:
        assert "owner_uid" in entry, f"{route}: teach the sweep whose entries these are"
        assert entry["owner_uid"] == host.b.uid or entry.get("shared") is True, (str(route), entry)


@pytest.fixture
def unchanged(host: Arena) -> Iterator[None]:
    before = victim_state(host)
    yield
    assert victim_state(host) == before


def test_every_route_keeps_a_members_objects_from_another(
    host: Arena, spec: dict[str, Any], own: Own
) -> None:
    routes = routes_of(spec)
    assert len(routes) >= 30  # the document really lists the API
    tried: list[str] = []
    for route in routes:
        before = victim_state(host)
        if route.path_params:
            attack_path_route(host, route)
        elif route.body_schema is not None:
            attack_body_route(host, route, spec, own)
        elif route.mutating:
            attack_global_action(host, route)
        else:
            check_listing(host, route)
        assert victim_state(host) == before, f"{route} changed A's objects"
        tried.append(str(route))
    assert "DELETE /v1/vms/{name}" in tried and "POST /v1/operations/{op_id}/cancel" in tried


def test_listings_hold_only_the_callers_objects_and_shared_ones(
    host: Arena, own: Own, unchanged: None
) -> None:
    answers = calls(host.b, host.daemon, [Call("GET", f"/{p}") for p in PLURAL.values()])
    listed = dict(zip(PLURAL, (body for _, body in answers), strict=True))
    others = {  # what B sees of anybody else's: exactly what A shared
        kind: {o.get("name", o["id"]) for o in entries if o["owner_uid"] != host.b.uid}
        for kind, entries in listed.items()
    }
    assert others == {
        "vm": set(),
        "image": {host.objects["shared-image"]["name"]},
        "kernel": {host.objects["shared-kernel"]["name"]},
        "operation": set(),
    }
    assert own.kernel in {k["name"] for k in listed["kernel"]}
    mine = calls(host.a, host.daemon, [Call("GET", "/vms"), Call("GET", "/images")])
    assert [v["name"] for v in mine[0][1]] == [host.objects["vm"]["name"]]
    assert {i["name"] for i in mine[1][1]} == {
        host.objects["image"]["name"], host.objects["shared-image"]["name"],
    }  # fmt: skip


def test_a_shared_image_is_used_but_never_changed_by_another(host: Arena, unchanged: None) -> None:
    shared = host.objects["shared-image"]["name"]
    vm = f"b-on-shared-{secrets.token_hex(2)}"
    status, op = call(host.b, host.daemon,
                      Call("POST", "/vms", body={"name": vm, "image": shared, "start": False},
                           wait=True))  # fmt: skip
    assert status == 202 and op["state"] == "succeeded", op
    status, made = call(host.b, host.daemon, Call("GET", f"/vms/{vm}"))
    assert status == 200 and made["owner_uid"] == host.b.uid and made["image"] == shared
    status, _ = call(host.b, host.daemon, Call("DELETE", f"/vms/{vm}"))
    assert status == 200
