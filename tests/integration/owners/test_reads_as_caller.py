"""Host paths a member hands the root daemon are read AS THAT MEMBER, when they are used.

Real throwaway users against a private daemon (members.py), straight to the API (no
CLI-side checks in the way): `image build --copy` through a symlink to a root-only file,
swapped in after the request was accepted, must not get that file into a build; the
shared blob cache is for admins only.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import BIN
from tests.integration.owners.members import SharedHost, User, shared_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host() -> Iterator[SharedHost]:
    with shared_host() as running:
        running.daemon.cli("kernel", "share", "debian", check=True)
        running.daemon.cli("image", "share", "deb", check=True)
        yield running


def api(user: User, host: SharedHost, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One raw request as `user`: (status, JSON body)."""
    script = (
        "import json,sys,httpx\n"
        "c=httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]),base_url='http://x/v1')\n"
        "body=json.loads(sys.argv[4])\n"
        "r=c.request(sys.argv[2],sys.argv[3],json=body,timeout=120)\n"
        "print(json.dumps([r.status_code,r.json()]))\n"
    )
    argv = [str(BIN / "python"), "-c", script, str(host.daemon.socket), method, path]
    done = subprocess.run(
        user._as_me(*argv, json.dumps(body)),
        capture_output=True,
        text=True,
        timeout=150,
        env=user._env(),
    )
    assert done.returncode == 0, done.stderr
    status, answer = json.loads(done.stdout)
    return int(status), answer


def finished(user: User, host: SharedHost, op_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, op = api(user, host, "GET", f"/operations/{op_id}")
        assert status == 200, op
        if op["state"] not in ("pending", "running"):
            return dict(op)
        time.sleep(0.3)
    raise AssertionError(f"operation {op_id} did not finish")


def root_secret(host: SharedHost) -> Path:
    secret = host.world / "root-secret.txt"
    secret.write_text("ROOT SECRET\n")
    os.chmod(secret, 0o600)
    return secret


def build_copying(user: User, host: SharedHost, name: str, src: Path) -> tuple[int, Any]:
    body = {
        "from_image": "deb",
        "name": name,
        "steps": [{"kind": "copy", "src": str(src), "dst": "/stolen"}],
    }
    return api(user, host, "POST", "/images/build", body)


def expect_refused_read(user: User, host: SharedHost, answer: tuple[int, Any]) -> None:
    status, op = answer
    assert status == 202, op
    done = finished(user, host, op["id"])
    assert done["state"] == "failed", done
    message = done["error"]["message"]
    assert f"uid {user.uid} may not read" in message and "ROOT SECRET" not in json.dumps(done)


def test_a_build_copies_through_a_link_only_what_the_member_may_read(host: SharedHost) -> None:
    a = host.a
    secret = root_secret(host)
    link = a.home / "payload"
    link.symlink_to(secret)
    os.lchown(link, a.uid, a.gid)
    # No check at request time could stop this (there is none): the read itself does.
    expect_refused_read(a, host, build_copying(a, host, "stolen-1", link))


def test_a_link_swapped_after_the_request_cannot_leak(host: SharedHost) -> None:
    a = host.a
    secret = root_secret(host)
    mine = a.home / "mine.txt"
    mine.write_text("the member's own\n")
    os.chown(mine, a.uid, a.gid)
    link = a.home / "swapped"
    link.symlink_to(mine)
    os.lchown(link, a.uid, a.gid)
    answer = build_copying(a, host, "stolen-2", link)
    # Accepted: now point the link at root's secret, before the build reads its sources
    # (it first clones the base rootfs, so the swap wins the race).
    link.unlink()
    link.symlink_to(secret)
    os.lchown(link, a.uid, a.gid)
    expect_refused_read(a, host, answer)
    assert not [p for p in (host.daemon.state_dir / "tmp").iterdir() if "build" in p.name]


def test_the_shared_blob_cache_is_for_admins(host: SharedHost) -> None:
    for method, path in (("GET", "/image-cache"), ("POST", "/image-cache/prune")):
        status, body = api(host.b, host, method, path)
        assert status == 403 and "only root and the daemon's admin_group" in body["message"]
        assert body["hint"]
        status, body = api(host.admin, host, method, path)
        assert status == 200, body
