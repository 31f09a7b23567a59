"""The arena of the security suite: a private root daemon, two members of group banger
(A, the victim, and B, the attacker), a user outside the group, and a local registry.

Every attack is a real request on the real socket from a process running with the
attacker's uid, gid and groups (setpriv), never a call into the daemon's code. A batch of
requests runs in one such process, so a sweep of dozens of requests costs one start-up.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.daemon import BIN, RunningDaemon, make_daemon, remove_tree
from tests.helpers.registry import RunningRegistry, start_registry
from tests.integration.owners.members import User, small_ext4, throwaway_group, throwaway_user
from tests.unit.kernels.hostile import kernel_tree

# Runs as the attacker: reads a JSON list of requests on stdin, prints a list of answers.
# A request with "wait": true is an operation to follow to its end (its final record).
_BATCH = r"""
import json, sys, time, httpx
c = httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]), base_url="http://x/v1",
                 timeout=float(sys.argv[2]))
out = []
for q in json.load(sys.stdin):
    r = c.request(q["method"], q["path"], params=q.get("params"), json=q.get("json"))
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if q.get("wait") and r.status_code == 202:
        deadline = time.monotonic() + float(sys.argv[2])
        while body.get("state") in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            body = c.get("/operations/" + body["id"]).json()
    out.append([r.status_code, body])
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Call:
    """One API request: `path` under /v1, optional query and JSON body."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    wait: bool = False  # follow the operation it starts to its end

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "params": self.params or None,
            "json": self.body,
            "wait": self.wait,
        }

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.method} {self.path}{'?' + query if query else ''} {self.body or ''}"


def as_user(user: User, *argv: str) -> list[str]:
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", *argv]


def user_env(user: User) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(user.home), "LANG": "C.UTF-8"}


def run_as(user: User, *argv: str, stdin: str | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        as_user(user, *argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=user_env(user),
    )
    assert done.returncode == 0, f"{user.name}: {argv[:2]}: {done.stderr[-3000:]}"
    return done.stdout


def calls(
    user: User, daemon: RunningDaemon, batch: list[Call], timeout: float = 120
) -> list[tuple[int, Any]]:
    """Send `batch` as `user` through the socket; (status, body) per call, in order."""
    payload = json.dumps([c.as_json() for c in batch])
    script_args = ("-c", _BATCH, str(daemon.socket), str(timeout))
    out = run_as(user, str(BIN / "python"), *script_args, stdin=payload, timeout=timeout * 3)
    return [(int(status), body) for status, body in json.loads(out)]


def call(user: User, daemon: RunningDaemon, one: Call, timeout: float = 120) -> tuple[int, Any]:
    [answer] = calls(user, daemon, [one], timeout)
    return answer


def root_get(daemon: RunningDaemon, path: str) -> Any:
    """What the daemon itself holds (root sees everything)."""
    with daemon.http() as client:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json()


def error_of(status: int, body: Any) -> str:
    """The one message a refusal carries, for a 4xx answer or a failed operation; fails on a
    success, a 5xx or an internal error (a hostile input must always get a named error)."""
    if status == 202 and isinstance(body, dict) and body.get("state") == "failed":
        error = body["error"]
    else:
        assert 400 <= status < 500, (status, body)
        assert isinstance(body, dict), body
        error = body
    assert error["code"] != "internal", error
    assert "internal error" not in error["message"].lower(), error
    assert error.get("hint"), error
    return str(error["message"])


@dataclass(frozen=True)
class Arena:
    daemon: RunningDaemon
    a: User  # the victim: owns the objects below
    b: User  # the attacker: another member of group banger
    outsider: User  # not in group banger
    world: Path
    registry: RunningRegistry
    # A's objects as A sees them, by role: kernel, shared-kernel, image, shared-image, vm
    # (created, never booted) and operation (that VM's create).
    objects: dict[str, dict[str, Any]]

    @property
    def daemon_pid(self) -> int:
        assert self.daemon.proc is not None
        return self.daemon.proc.pid


def _ok(status: int, body: Any) -> Any:
    assert status in (200, 201, 202), (status, body)
    if isinstance(body, dict) and body.get("state") == "failed":
        raise AssertionError(body)
    return body


def hand_to(user: User, path: Path) -> Path:
    """Make `path` (a file or a tree built as root) the user's, modes untouched."""
    for current, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(Path(current) / name, user.uid, user.gid)
    os.lchown(path, user.uid, user.gid)
    return path


def _import_kernel(user: User, daemon: RunningDaemon, name: str) -> dict[str, Any]:
    tree = hand_to(user, kernel_tree(user.home / f"kernel-{name}"))
    body = {"name": name, "source": str(tree)}
    _ok(*call(user, daemon, Call("POST", "/kernels/import", body=body, wait=True)))
    return dict(_ok(*call(user, daemon, Call("GET", f"/kernels/{name}"))))


def _register_image(user: User, daemon: RunningDaemon, name: str, kernel: str) -> dict[str, Any]:
    rootfs = small_ext4(user.home / f"{name}.ext4", user)
    body = {"name": name, "rootfs": str(rootfs), "kernel_ref": kernel}
    return dict(_ok(*call(user, daemon, Call("POST", "/images/register", body=body))))


def victim_objects(a: User, daemon: RunningDaemon, tag: str) -> dict[str, dict[str, Any]]:
    """A's kernels, images and a (never booted) VM, two of them shared."""
    made = {
        "kernel": _import_kernel(a, daemon, f"a-kern-{tag}"),
        "shared-kernel": _import_kernel(a, daemon, f"a-pubk-{tag}"),
    }
    made["image"] = _register_image(a, daemon, f"a-img-{tag}", made["kernel"]["name"])
    shared_kernel = made["shared-kernel"]["name"]
    made["shared-image"] = _register_image(a, daemon, f"a-pub-{tag}", shared_kernel)
    _ok(*call(a, daemon, Call("POST", f"/kernels/{made['shared-kernel']['name']}/share")))
    _ok(*call(a, daemon, Call("POST", f"/images/{made['shared-image']['name']}/share")))
    vm = {"name": f"a-vm-{tag}", "image": made["image"]["name"], "start": False}
    _ok(*call(a, daemon, Call("POST", "/vms", body=vm, wait=True)))
    made["vm"] = _ok(*call(a, daemon, Call("GET", f"/vms/a-vm-{tag}")))
    ops = _ok(*call(a, daemon, Call("GET", "/operations")))
    made["operation"] = next(o for o in ops if o["kind"] == "vm.create")
    return made


def _teardown_network(daemon: RunningDaemon) -> None:
    with daemon.http() as client:
        client.post("/network/teardown")


@contextmanager
def arena() -> Iterator[Arena]:
    """The whole arena, torn down (users, daemon, registry, files) whatever happens."""
    world = Path(tempfile.mkdtemp(prefix="banger-security-", dir="/tmp"))
    os.chmod(world, 0o755)  # the users reach the socket through it
    with ExitStack() as stack:
        stack.callback(remove_tree, world)
        a = stack.enter_context(throwaway_user("bgsec-a", world, ["banger"]))
        b = stack.enter_context(throwaway_user("bgsec-b", world, ["banger"]))
        elsewhere = stack.enter_context(throwaway_group("bgsec-out"))
        outsider = stack.enter_context(throwaway_user("bgsec-o", world, [elsewhere]))
        registry = stack.enter_context(start_registry(world / "registry"))
        daemon = make_daemon(world / "d")
        os.chmod(daemon.root, 0o755)
        daemon.start()
        stack.callback(daemon.stop)
        stack.callback(_teardown_network, daemon)  # runs first: no attack should boot a VM
        objects = victim_objects(a, daemon, secrets.token_hex(2))
        yield Arena(daemon, a, b, outsider, world, registry, objects)
