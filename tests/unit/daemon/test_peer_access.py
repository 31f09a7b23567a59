"""Who may talk to bangerd (peer.py) and whom a request's host paths are read as (access.py)."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import subprocess
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from banger.api.requests import BuildStep, ImagePull, ImageRegister, KernelImport
from banger.daemon import peer
from banger.daemon.access import request_caller
from banger.daemon.peer import PEER_SCOPE_KEY, Peer, group_gid, peer_allowed, refusal_response
from banger.hostfiles import Caller

UID, GID = 1001, 2002


def test_the_refusal_is_a_complete_http_response_with_a_one_line_error() -> None:
    raw = refusal_response(1234, "banger")
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 403 Forbidden"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["content-length"]) == len(body)  # else the client hangs or truncates
    assert headers["connection"] == "close"
    error = json.loads(body)
    assert error["code"] == "permission_denied"
    assert "uid 1234" in error["message"] and "'banger'" in error["message"]
    assert "usermod -aG banger" in error["hint"]


def test_group_lookup() -> None:
    assert group_gid("root") == 0
    assert group_gid("no-such-group-banger-test") is None


def test_supplementary_groups_are_read_from_proc() -> None:
    assert peer._supplementary_groups(os.getpid()) == set(os.getgroups())
    assert peer._supplementary_groups(2**22 + 7) == set()  # no such pid: no groups


@pytest.mark.skipif(os.geteuid() != 0, reason="setting a child's groups needs root")
def test_a_member_by_supplementary_group_is_let_in() -> None:
    # The socket group is not the peer's primary gid: it shows only in /proc/<pid>/status.
    child = subprocess.Popen(["sleep", "30"], extra_groups=[4321, 4322])
    try:
        assert peer._supplementary_groups(child.pid) == {4321, 4322}
        assert peer_allowed(child.pid, 4242, 77777, 4322, daemon_uid=0)
        assert not peer_allowed(child.pid, 4242, 77777, 88888, daemon_uid=0)
    finally:
        child.kill()
        child.wait()
    assert peer_allowed(1, 4242, 4242, None, daemon_uid=4242)  # the daemon's own user


def test_every_request_on_a_connection_carries_its_peer() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope.get(PEER_SCOPE_KEY))

    who = Peer(pid=9, uid=UID, gids=frozenset({GID}))
    wrapped = peer._with_peer(app, who)
    asyncio.run(wrapped({"type": "http"}, None, None))
    asyncio.run(wrapped({"type": "http", PEER_SCOPE_KEY: "forged"}, None, None))
    assert seen == [who, who]  # a scope key from elsewhere never wins


def test_paths_are_read_as_the_peer_with_all_its_groups() -> None:
    """request_caller: the SO_PEERCRED peer's uid, its primary gid when it holds it, and
    every group it holds (hostfiles reads as exactly that)."""
    nobody = pwd.getpwnam("nobody")
    held = frozenset({nobody.pw_gid, 3003})
    request = SimpleNamespace(scope={PEER_SCOPE_KEY: Peer(pid=1, uid=nobody.pw_uid, gids=held)})
    caller = request_caller(request)  # type: ignore[arg-type]
    assert caller == Caller(nobody.pw_uid, nobody.pw_gid, tuple(sorted(held)))
    without = Peer(pid=1, uid=nobody.pw_uid, gids=frozenset({3003, 4004}))
    request = SimpleNamespace(scope={PEER_SCOPE_KEY: without})
    assert request_caller(request).gid == 3003  # type: ignore[arg-type]
    no_peer = request_caller(SimpleNamespace(scope={}))  # type: ignore[arg-type]
    assert (no_peer.uid, no_peer.gid) == (os.geteuid(), os.getegid())


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (ImageRegister, {"name": "x", "rootfs": "disk.ext4", "kernel_ref": "k"}, "rootfs"),
        (ImageRegister, {"name": "x", "rootfs": "/r", "kernel_file": "vmlinux"}, "kernel_file"),
        (KernelImport, {"name": "k", "source": "linux.deb"}, "source"),
        (KernelImport, {"name": "k", "source": "/k", "initrd": "initrd.img"}, "initrd"),
        (ImagePull, {"ref": "debian", "docker_config": "config.json"}, "docker_config"),
        (BuildStep, {"kind": "copy", "src": "app.conf", "dst": "/etc/app.conf"}, None),
    ],
)
def test_relative_paths_are_refused_by_the_request_model(
    model: type[BaseModel], body: dict[str, str], field: str | None
) -> None:
    """The only home of the rule: routes hand these paths to a child reading as the
    caller, with no second check of their own."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    if field is not None:
        assert refused.value.errors()[0]["loc"] == (field,)
    else:
        assert "absolute host path" in str(refused.value)
