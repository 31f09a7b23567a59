"""Hostile OCI images pulled by member B through the real daemon from the local registry.

Each must end as a clean, named refusal (never "internal error") or, for shapes that are
harmless inside an image (setuid files, devices, symlinks to host secrets), as an image
whose dangerous parts exist only as inodes in its ext4. Either way the daemon's peak RSS
(VmHWM, reset before each pull) stays under 512 MiB, and no scratch is left in /dev/shm
or the state dir's tmp/.
"""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.security.arena import (
    Arena,
    Call,
    as_user,
    call,
    calls,
    error_of,
    root_get,
)
from tests.integration.security.layers import (
    CONTAINED,
    hostile_layers,
    push_layer,
    sparse_layer,
)
from tests.integration.security.scan import (
    MiB,
    peak_rss_mib,
    pull_scratch,
    reset_peak_rss,
    rss_mib,
    unsafe_entries,
)
from tests.unit.kernels.hostile import SECRET, files_containing, secret_file
from tests.unit.oci import rawtar as r

pytestmark = pytest.mark.integration

PEAK_LIMIT_MIB = 512
HOSTILE = hostile_layers()
# layer -> (daemon peak RSS, its RSS when the peak was reset), MiB; printed at the end
PEAKS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def fresh_daemon_and_report(host: Arena) -> Iterator[None]:
    """A freshly started daemon for this batch (memory other tests made it keep does not
    count against a layer), and the peaks per layer printed at the end."""
    host.daemon.stop()
    host.daemon.start()
    yield
    print("\ndaemon peak RSS per hostile image, MiB (RSS before the pull):")
    for name, (peak, start) in sorted(PEAKS.items()):
        print(f"  {name:45s} {peak:7.1f} ({start:6.1f})")


def pull_as_b(host: Arena, name: str, parts: Iterable[bytes], scratch: Path) -> tuple[int, Any]:
    """Push the image, then pull it as B and wait; records the daemon's peak RSS."""
    repository = f"hostile/{name.lower()}-{secrets.token_hex(2)}"
    ref = push_layer(host.registry, repository, parts, scratch)
    shm_before = pull_scratch()
    body = {"ref": ref, "insecure": True, "name": f"b-pull-{secrets.token_hex(3)}",
            "kernel_ref": host.objects["shared-kernel"]["name"], "free_mib": 4}  # fmt: skip
    reset_peak_rss(host.daemon_pid)
    start = rss_mib(host.daemon_pid)
    answer = call(host.b, host.daemon, Call("POST", "/images/pull", body=body, wait=True), 300)
    PEAKS[name] = (peak_rss_mib(host.daemon_pid), start)
    assert PEAKS[name][0] < PEAK_LIMIT_MIB, (name, PEAKS[name])
    assert pull_scratch() - shm_before == set(), "scratch left in /dev/shm"
    assert sorted(p.name for p in (host.daemon.state_dir / "tmp").iterdir()) == []
    return answer


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_image_is_a_named_refusal_in_bounded_memory(
    host: Arena, tmp_path: Path, name: str
) -> None:
    images_before = root_get(host.daemon, "/images")
    status, op = pull_as_b(host, name, HOSTILE[name], tmp_path)
    assert status == 202 and op["state"] == "failed", op
    message = error_of(status, op)
    assert op["error"]["code"] == "image_rejected", op["error"]
    assert "layer sha256:" in message, message
    assert root_get(host.daemon, "/images") == images_before  # no row, no half image


@pytest.mark.parametrize("name", sorted(CONTAINED))
def test_dangerous_inodes_stay_inside_the_image(host: Arena, tmp_path: Path, name: str) -> None:
    status, op = pull_as_b(host, name, [*CONTAINED[name], r.member("etc/ok", b"ok"), r.END],
                           tmp_path)  # fmt: skip
    assert status == 202 and op["state"] == "succeeded", op
    image = op["result"]
    try:
        assert image["owner_uid"] == host.b.uid
        assert unsafe_entries(host.daemon.state_dir) == []
        rootfs = Path(image["files"]["rootfs"])
        assert rootfs.is_relative_to(host.daemon.state_dir)
        assert stat.S_IMODE(rootfs.stat().st_mode) == 0o600  # private even inside 0700
        assert stat.S_IMODE(rootfs.parent.stat().st_mode) == 0o700
        peek = host.b.cli(host.daemon, "--json", "image", "show", image["name"])
        assert peek.returncode == 0 and json.loads(peek.stdout)["owner_uid"] == host.b.uid
        # The daemon's alone: B reaches its image through the API (and by booting it) only.
        opened = subprocess.run(as_user(host.b, "head", "-c1", str(rootfs)), capture_output=True)
        assert opened.returncode != 0 and b"Permission denied" in opened.stderr, opened
    finally:
        status, _ = call(host.b, host.daemon, Call("DELETE", f"/images/{image['name']}"))
        assert status == 200


def test_symlinks_in_an_image_are_never_resolved_on_the_host(host: Arena, tmp_path: Path) -> None:
    secret = secret_file(host.world)  # a root-only 0600 file the links point at
    try:
        links = [
            r.member(f"l{i}", typeflag=b"2", linkname=t.encode())
            for i, t in enumerate((str(secret), "../" * 20 + str(secret).lstrip("/")))
        ]
        status, op = pull_as_b(host, "symlinks-to-a-root-only-file", [*links, r.END], tmp_path)
        assert status == 202 and op["state"] == "succeeded", op
        assert files_containing(host.daemon.state_dir, SECRET) == []
        call(host.b, host.daemon, Call("DELETE", f"/images/{op['result']['name']}"))
    finally:
        secret.unlink()


def test_a_sparse_gibibyte_stays_sparse(host: Arena, tmp_path: Path) -> None:
    status, op = pull_as_b(host, "sparse-1GiB-with-8KiB-of-data", [*sparse_layer()], tmp_path)
    assert status == 202 and op["state"] == "succeeded", op
    image = op["result"]
    rootfs = Path(image["files"]["rootfs"])
    assert rootfs.stat().st_blocks * 512 < 64 * MiB  # the holes were never written
    call(host.b, host.daemon, Call("DELETE", f"/images/{image['name']}"))


def test_concurrent_hostile_pulls_stay_under_the_bound_together(
    host: Arena, tmp_path: Path
) -> None:
    """Three pulls of the heaviest layer at once (two by B, one by A): the daemon unpacks
    one at a time and frees each tree before the next, so its peak is one pull's
    (285 MiB measured), not three (696 MiB before)."""
    heaviest = "20k-files-each-under-250-implied-dirs"
    kernel = host.objects["shared-kernel"]["name"]
    refs = [
        push_layer(host.registry, f"hostile/together-{i}-{secrets.token_hex(2)}",
                   hostile_layers()[heaviest], tmp_path)  # a fresh stream each
        for i in range(3)
    ]  # fmt: skip

    def pull(ref: str) -> Call:
        body = {"ref": ref, "insecure": True, "name": f"together-{secrets.token_hex(3)}",
                "kernel_ref": kernel, "free_mib": 4}  # fmt: skip
        return Call("POST", "/images/pull", body=body)

    reset_peak_rss(host.daemon_pid)
    started = calls(host.b, host.daemon, [pull(refs[0]), pull(refs[1])])
    started.append(call(host.a, host.daemon, pull(refs[2])))
    assert [status for status, _ in started] == [202, 202, 202], started
    deadline = time.monotonic() + 600
    finals = []
    for _, op in started:
        current = op
        while current["state"] in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            current = root_get(host.daemon, f"/operations/{op['id']}")
        finals.append(current)
    PEAKS["3 at once: " + heaviest] = (peak_rss_mib(host.daemon_pid), 0.0)
    assert [f["state"] for f in finals] == ["failed"] * 3, finals
    assert all(f["error"]["code"] == "image_rejected" for f in finals), finals
    assert PEAKS["3 at once: " + heaviest][0] < PEAK_LIMIT_MIB, PEAKS
