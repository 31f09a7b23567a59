"""`image register` by a real non-root member: their files are read AS THEM and copied.

The daemon is root; the member must get nothing through it they could not read
themselves, and what they registered must not change when their files do.
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

from tests.helpers.daemon import BIN, RunningDaemon
from tests.integration.kernels.attacker import Member, group_member, reachable_daemon

pytestmark = pytest.mark.integration

FAKE_KERNEL = b"\x7fELF" + b"\0" * 4092  # enough for `--kernel FILE` (never booted)


@pytest.fixture(scope="module")
def host() -> Iterator[tuple[RunningDaemon, Path]]:
    with reachable_daemon() as running:
        yield running


@pytest.fixture
def member(host: tuple[RunningDaemon, Path]) -> Iterator[Member]:
    with group_member(host[1]) as user:
        yield user


def ext4(path: Path, marker: bytes) -> Path:
    """A small ext4 whose bytes carry `marker` (in a file inside it)."""
    payload = path.parent / f".{path.name}.payload"
    payload.mkdir()
    (payload / "marker").write_bytes(marker)
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(payload), str(path), "8M"], check=True
    )
    subprocess.run(["rm", "-rf", str(payload)], check=True)
    return path


def post(member: Member, daemon: RunningDaemon, path: str, body: dict[str, str]) -> tuple[int, Any]:
    """POST straight to the socket as the member: no CLI-side checks in the way."""
    script = (
        "import json,sys,httpx\n"
        "c=httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]),base_url='http://x/v1')\n"
        "r=c.post(sys.argv[2],json=json.loads(sys.argv[3]),timeout=120)\n"
        "print(json.dumps([r.status_code,r.json()]))\n"
    )
    python = str(BIN / "python")
    done = member.run(python, "-c", script, str(daemon.socket), path, json.dumps(body), timeout=150)
    assert done.returncode == 0, done.stderr
    status, answer = json.loads(done.stdout)
    return int(status), answer


def register(
    member: Member, daemon: RunningDaemon, name: str, rootfs: Path, kernel: Path
) -> tuple[int, Any]:
    body = {"name": name, "rootfs": str(rootfs), "kernel_file": str(kernel)}
    return post(member, daemon, "/images/register", body)


def refused(answer: tuple[int, Any], words: str) -> None:
    status, body = answer
    assert status >= 400 and words in body["message"] and body["hint"], answer


def nothing_staged(daemon: RunningDaemon) -> None:
    leftovers = [
        p.name for p in (daemon.state_dir / "tmp").iterdir() if p.name.startswith("image-")
    ]
    assert leftovers == []


def test_the_image_is_a_private_copy_that_outlives_the_source(
    host: tuple[RunningDaemon, Path], member: Member
) -> None:
    daemon, world = host
    rootfs = member.own(ext4(member.home / "mine.ext4", b"the member's own rootfs"))
    kernel = member.home / "vmlinux"
    kernel.write_bytes(FAKE_KERNEL)
    member.own(kernel)
    secret = ext4(world / "root-only.ext4", b"ROOT SECRET")
    os.chmod(secret, 0o600)
    link = member.home / "link.ext4"
    link.symlink_to(rootfs)
    member.own(link)
    original = rootfs.read_bytes()

    status, image = register(member, daemon, "mine", link, kernel)
    assert status == 201, image
    assert image["managed"] is True
    copy = Path(image["files"]["rootfs"])
    assert copy.is_relative_to(daemon.state_dir / "images" / image["id"])
    assert (copy.stat().st_uid, copy.stat().st_mode & 0o777) == (0, 0o600)

    # The member swaps the link to root's secret, then deletes their file: too late.
    link.unlink()
    link.symlink_to(secret)
    rootfs.unlink()
    kernel.unlink()
    assert copy.read_bytes() == original and b"ROOT SECRET" not in copy.read_bytes()
    shown = json.loads(member.cli(daemon, "--json", "image", "show", "mine").stdout)
    assert shown["files"] == image["files"]

    # Registering through the swapped link now is refused: the member may not read it.
    kernel.write_bytes(FAKE_KERNEL)
    member.own(kernel)
    refused(register(member, daemon, "stolen", link, kernel), f"uid {member.uid} may not read")
    nothing_staged(daemon)


@pytest.mark.timeout(120)
def test_what_the_member_may_not_read_is_refused_quickly(
    host: tuple[RunningDaemon, Path], member: Member
) -> None:
    daemon, world = host
    kernel = member.home / "vmlinux"
    kernel.write_bytes(FAKE_KERNEL)
    member.own(kernel)
    fifo = member.home / "fifo.ext4"
    os.mkfifo(fifo)
    member.own(fifo)
    with group_member(world) as other:
        closed = other.home / "closed"
        closed.mkdir(mode=0o700)
        theirs = ext4(closed / "theirs.ext4", b"someone else's")
        os.chmod(theirs, 0o644)  # readable, but behind the other user's closed directory
        other.own(closed)
        cases = [
            (fifo, "is a FIFO, not a regular file"),
            (Path("/proc/kallsyms"), "is on procfs"),
            (theirs, f"uid {member.uid} may not read"),
            (member.home, "is a directory, not a regular file"),
        ]
        for path, words in cases:
            started = time.monotonic()
            refused(register(member, daemon, "nope", path, kernel), words)
            assert time.monotonic() - started < 30, path
    nothing_staged(daemon)
    assert not list((daemon.state_dir / "images").iterdir()) or all(
        p.name != "nope" for p in (daemon.state_dir / "images").iterdir()
    )
