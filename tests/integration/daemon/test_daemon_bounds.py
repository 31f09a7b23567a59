"""A real bangerd: leftovers of a killed daemon are gone at start, and request sizes are
refused above the configured limits before anything is made."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.daemon.leftovers import ram_scratch_dir
from tests.helpers.daemon import RunningDaemon, make_daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningDaemon]:
    daemon = make_daemon(tmp_path / "d", "")
    with daemon.config.open("a") as config:
        config.write(
            "[limits]\nmax_disk_mib = 4096\nmax_memory_mib = 2048\nmax_cpus = 4\n"
            "max_request_bytes = 1048576\n"
        )
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        ram = ram_scratch_dir(daemon.state_dir)
        if ram.is_dir():
            for leftover in ram.iterdir():
                leftover.rmdir()
            ram.rmdir()


def test_leftovers_of_a_killed_daemon_are_removed_at_start(limited: RunningDaemon) -> None:
    ram = ram_scratch_dir(limited.state_dir)
    assert ram.is_dir() and stat.S_IMODE(ram.stat().st_mode) == 0o700
    limited.stop(signal.SIGKILL)
    # What a pull, a promote, a kernel import and a build leave when killed mid-way.
    planted = [
        ram / "oci-pull-0123456789ab" / "content",
        limited.state_dir / "images" / ".0123456789abcdef.k2j3h4" / "rootfs.ext4",
        limited.state_dir / "tmp" / "kernel-0123" / "build",
        limited.state_dir / "tmp" / "build-abcd" / "root.ext4",
    ]
    for path in planted:
        path.mkdir(parents=True)
    (ram / "oci-pull-0123456789ab" / "content" / "big").write_bytes(b"x" * 4096)
    keep = limited.state_dir / "images" / "0123456789abcdef"
    keep.mkdir()
    limited.start()
    for path in planted:
        assert not path.parent.exists(), path
    assert keep.is_dir()  # a real image directory is never touched
    assert ram.is_dir() and list(ram.iterdir()) == []
    assert stat.S_IMODE(ram.stat().st_mode) == 0o700 and ram.stat().st_uid == os.geteuid()


def test_a_clean_stop_removes_the_ram_scratch(limited: RunningDaemon) -> None:
    ram = ram_scratch_dir(limited.state_dir)
    assert ram.is_dir()
    limited.stop()  # SIGTERM: the daemon's own shutdown
    assert not ram.exists()


def test_a_planted_symlink_is_not_followed_as_the_ram_scratch(limited: RunningDaemon) -> None:
    ram = ram_scratch_dir(limited.state_dir)
    limited.stop(signal.SIGKILL)
    victim = limited.root / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    ram.rmdir()
    ram.symlink_to(victim)
    limited.start()
    assert (victim / "precious").read_text() == "keep me"
    assert not ram.is_symlink() and ram.is_dir()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/vms",
            {"image": "nope", "disk_size_mib": 10_485_760},
            "--disk-size 10485760 MiB is above the limit 4096 MiB (config limits.max_disk_mib)",
        ),
        (
            "/vms",
            {"image": "nope", "memory_mib": 4096},
            "--memory 4096 MiB is above the limit 2048 MiB (config limits.max_memory_mib)",
        ),
        ("/vms", {"image": "nope", "cpus": 8}, "--cpus 8 is above the limit 4"),
        (
            "/images/pull",
            {"ref": "example.invalid/x:1", "size_mib": 5000},
            "--size 5000 MiB is above the limit 4096 MiB",
        ),
        (
            "/images/bootstrap",
            {"name": "big", "free_mib": 5000},
            "--free 5000 MiB is above the limit 4096 MiB",
        ),
    ],
)
def test_sizes_above_the_limits_are_refused_with_one_line(
    limited: RunningDaemon, path: str, body: dict[str, object], message: str
) -> None:
    with limited.http() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["code"] == "invalid_argument" and message in error["message"]
    assert list((limited.state_dir / "vms").iterdir()) == []
    with limited.http() as client:
        assert client.get("/operations").json() == []  # refused before any work started


def test_a_size_beyond_any_filesystem_is_refused_by_the_model(limited: RunningDaemon) -> None:
    with limited.http() as client:
        answer = client.post("/vms", json={"image": "nope", "disk_size_mib": 1 << 40})
    assert answer.status_code in (400, 422), answer.text
    assert "disk_size_mib" in answer.text


def test_request_bodies_above_the_limit_are_refused_unread(limited: RunningDaemon) -> None:
    big = b'{"name": "' + b"x" * (2 << 20) + b'"}'
    with limited.http() as client:
        answer = client.post("/vms", content=big, headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert answer.json()["message"] == (
            f"the request body of {len(big)} bytes is above the limit 1048576 bytes "
            "(config limits.max_request_bytes)"
        )

        def chunks() -> Iterator[bytes]:
            yield b'{"image": '
            yield b'"nope"}'

        chunked = client.post(
            "/vms", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 411
        # A body within the limit still reaches the route (and its one-line NotFound).
        small = client.post("/vms", json={"image": "nope"})
        assert small.status_code == 404 and "nope" in small.json()["message"]
