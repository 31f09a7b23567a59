"""Shared fixtures: a real bangerd on a temporary socket, for CLI and API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon, make_daemon


@pytest.fixture
def bangerd(tmp_path: Path) -> Iterator[RunningDaemon]:
    daemon = make_daemon(tmp_path / "d")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
