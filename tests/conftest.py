"""Shared fixtures: a real bangerd on a temporary socket, for CLI and API tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon, make_daemon
from tests.helpers.registry import RunningRegistry, start_registry


@pytest.fixture
def bangerd(tmp_path: Path) -> Iterator[RunningDaemon]:
    daemon = make_daemon(tmp_path / "d")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """Debian's real docker-registry on a free loopback port, for one test module."""
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is missing: scripts/test installs it")
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running
