"""Host paths B hands to the root daemon: only what B could read, and only regular files.

Every verb that takes a host path (image register's five, kernel import's three, image
build --copy, image pull --docker-config) is given, as member B: a root-only 0600 file,
/proc/kallsyms, the daemon's own /proc/PID/environ, /dev/zero, a FIFO, B's symlink to A's
0600 file, and a file inside A's 0700 home. Each must be refused with one clear error (no
"internal error", no hang), and nothing may reach the state dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.owners.members import small_ext4
from tests.integration.security.arena import (
    Arena,
    Call,
    call,
    calls,
    error_of,
    hand_to,
    root_get,
)
from tests.unit.kernels.hostile import SECRET, files_containing, kernel_tree

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Bait:
    paths: dict[str, Path]  # label -> a path B must not get anything from
    b_ext4: Path  # B's own, valid inputs for the other fields
    b_kernel: Path
    b_initrd: Path
    b_tree: Path


def secret_ext4(path: Path, uid: int, gid: int) -> Path:
    """An ext4 (so only permissions can refuse it) holding SECRET, 0600 of uid:gid."""
    content = path.parent / f"{path.name}.d"
    content.mkdir()
    (content / "secret").write_bytes(SECRET + b"\n")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(content), str(path), "8M"],
                   check=True, capture_output=True)  # fmt: skip
    shutil.rmtree(content)
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    return path


def empty_cpio() -> bytes:
    """A newc cpio archive holding nothing but its trailer: a valid initrd for B to give."""
    name = b"TRAILER!!!\0"
    fields = [0] * 13
    fields[4], fields[11] = 1, len(name)  # nlink, namesize
    record = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    return record + b"\0" * (-len(record) % 512)


@pytest.fixture(scope="module")
def bait(host: Arena) -> Iterator[Bait]:
    a, b, world = host.a, host.b, host.world
    a_open = world / f"a-open-{secrets.token_hex(2)}"  # A's world-traversable directory
    a_open.mkdir(mode=0o755)
    os.chown(a_open, a.uid, a.gid)
    fifo = b.home / "bait.fifo"
    os.mkfifo(fifo, 0o600)
    link = b.home / "to-a-secret"
    link.symlink_to(secret_ext4(a_open / "a-secret.ext4", a.uid, a.gid))
    a_private = secret_ext4(a.home / "a-private.ext4", a.uid, a.gid)  # behind A's 0700 home
    paths = {
        "root-0600": secret_ext4(world / f"root-{secrets.token_hex(2)}.ext4", 0, 0),
        "kallsyms": Path("/proc/kallsyms"),
        "daemon-environ": Path(f"/proc/{host.daemon_pid}/environ"),
        "dev-zero": Path("/dev/zero"),
        "fifo": fifo,
        "symlink-to-a-0600": link,
        "in-a-0700-dir": a_private,
        "a-0700-dir": a.home,
    }
    initrd = b.home / "b-initrd.img"
    initrd.write_bytes(empty_cpio())
    tree = kernel_tree(b.home / f"b-tree-{secrets.token_hex(2)}")
    hand_to(b, b.home)
    yield Bait(paths, small_ext4(b.home / "b-own.ext4", b), tree / "boot" / next(
        p.name for p in (tree / "boot").iterdir() if p.name.startswith("vmlinuz")
    ), initrd, tree)  # fmt: skip


def fresh() -> str:
    return f"b-bait-{secrets.token_hex(3)}"


def register_bodies(host: Arena, bait: Bait, path: str) -> dict[str, dict[str, Any]]:
    """One image register per host-path field, the others B's own valid inputs."""
    kernel = host.objects["shared-kernel"]["name"]
    own = {"rootfs": str(bait.b_ext4), "kernel_file": str(bait.b_kernel)}
    return {
        "rootfs": {"name": fresh(), "rootfs": path, "kernel_ref": kernel},
        "work_seed": {"name": fresh(), "rootfs": own["rootfs"], "kernel_ref": kernel,
                      "work_seed": path},
        "kernel_file": {"name": fresh(), "rootfs": own["rootfs"], "kernel_file": path},
        "initrd": {**own, "name": fresh(), "initrd": path},
        "modules": {**own, "name": fresh(), "initrd": str(bait.b_initrd), "modules": path},
    }  # fmt: skip


def kernel_bodies(bait: Bait, path: str) -> dict[str, dict[str, Any]]:
    tree = str(bait.b_tree)
    return {
        "source": {"name": fresh(), "source": path},
        "initrd": {"name": fresh(), "source": tree, "initrd": path},
        "modules_dir": {"name": fresh(), "source": tree, "modules_dir": path},
    }


def other_bodies(host: Arena, path: str) -> dict[str, tuple[str, dict[str, Any]]]:
    usable = host.objects["shared-image"]["name"]
    ref = f"{host.registry.address}/nothing/here:v1"
    return {
        "build --copy": ("/images/build", {
            "from_image": usable, "name": fresh(), "via": "console",
            "steps": [{"kind": "copy", "src": path, "dst": "/root/loot"}],
        }),
        "pull --docker-config": ("/images/pull", {
            "ref": ref, "insecure": True, "name": fresh(), "docker_config": path,
            "kernel_ref": host.objects["shared-kernel"]["name"],
        }),
    }  # fmt: skip


def state_listing(host: Arena) -> dict[str, Any]:
    state = host.daemon.state_dir
    return {
        "dirs": {d: sorted(os.listdir(state / d)) for d in ("images", "kernels", "vms", "tmp")},
        "images": [i["id"] for i in root_get(host.daemon, "/images")],
        "kernels": [k["id"] for k in root_get(host.daemon, "/kernels")],
        "vms": [v["id"] for v in root_get(host.daemon, "/vms")],
    }


def attempts(host: Arena, bait: Bait, label: str) -> list[tuple[str, Call]]:
    path = str(bait.paths[label])
    tried = [(f"image register {field}", Call("POST", "/images/register", body=body))
             for field, body in register_bodies(host, bait, path).items()]  # fmt: skip
    tried += [(f"kernel import {field}", Call("POST", "/kernels/import", body=body, wait=True))
              for field, body in kernel_bodies(bait, path).items()]  # fmt: skip
    tried += [(verb, Call("POST", route, body=body, wait=True))
              for verb, (route, body) in other_bodies(host, path).items()]  # fmt: skip
    return tried


@pytest.mark.parametrize(
    "label",
    ["root-0600", "kallsyms", "daemon-environ", "dev-zero", "fifo", "symlink-to-a-0600",
     "in-a-0700-dir", "a-0700-dir"],
)  # fmt: skip
def test_a_path_the_member_may_not_use_is_refused(host: Arena, bait: Bait, label: str) -> None:
    before = state_listing(host)
    tried = attempts(host, bait, label)
    answers = calls(host.b, host.daemon, [c for _, c in tried], timeout=60)
    accepted = []
    for (verb, _), (status, body) in zip(tried, answers, strict=True):
        if status < 300 and not (isinstance(body, dict) and body.get("state") == "failed"):
            accepted.append(f"{verb}: {status} {str(body)[:200]}")
            continue
        message = error_of(status, body)
        assert SECRET.decode() not in message, (verb, message)
        assert str(bait.paths[label]) in message, (verb, message)  # names what it refused
    assert accepted == [], f"{label} accepted by: {accepted}"
    assert state_listing(host) == before
    assert files_containing(host.daemon.state_dir, SECRET) == []


def test_swapping_a_registered_file_for_a_link_to_roots_file_gets_nothing(
    host: Arena, bait: Bait
) -> None:
    """Check-then-use: B registers its own ext4, then makes the path a link to root's 0600
    file before anything else reads it (vm create, promote)."""
    rootfs = small_ext4(host.b.home / f"swap-{secrets.token_hex(2)}.ext4", host.b)
    name = fresh()
    kernel = host.objects["shared-kernel"]["name"]
    status, _ = call(host.b, host.daemon, Call("POST", "/images/register",
                     body={"name": name, "rootfs": str(rootfs), "kernel_ref": kernel}))  # fmt: skip
    assert status == 201
    rootfs.unlink()
    rootfs.symlink_to(bait.paths["root-0600"])
    os.lchown(rootfs, host.b.uid, host.b.gid)
    vm = fresh()
    for attempt in (
        Call("POST", "/vms", body={"name": vm, "image": name, "start": False}, wait=True),
        Call("POST", f"/images/{name}/promote", wait=True),
    ):
        call(host.b, host.daemon, attempt)  # refused or not: what matters is what it read
    assert files_containing(host.daemon.state_dir, SECRET) == []
    call(host.b, host.daemon, Call("DELETE", f"/vms/{vm}", params={"force": "true"}))
    call(host.b, host.daemon, Call("DELETE", f"/images/{name}"))


def test_refusals_do_not_tell_which_private_files_exist(host: Arena, bait: Bait) -> None:
    """Inside A's 0700 home, a file that exists and one that does not are refused alike."""
    real = str(bait.paths["in-a-0700-dir"])
    missing = real.replace("a-private", "never-was")
    tried = [attempts(host, bait, "in-a-0700-dir"), attempts(host, bait, "in-a-0700-dir")]
    for index, (_, attempt) in enumerate(tried[1]):
        text = json.dumps(attempt.body).replace(real, missing)
        tried[1][index] = (tried[1][index][0], replace(attempt, body=json.loads(text)))
    seen = [calls(host.b, host.daemon, [c for _, c in batch], timeout=60) for batch in tried]
    for (verb, _), there, absent in zip(tried[0], seen[0], seen[1], strict=True):
        there_text, absent_text = error_of(*there), error_of(*absent)
        assert there_text == absent_text.replace(missing, real), (verb, there_text, absent_text)
