"""One arena for the whole security package; after every attack, the state dir is clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.security.arena import Arena, arena
from tests.integration.security.scan import unsafe_entries


@pytest.fixture(scope="package")
def host() -> Iterator[Arena]:
    with arena() as running:
        yield running


@pytest.fixture(autouse=True)
def no_setuid_device_or_fifo_after(host: Arena) -> Iterator[None]:
    """Whatever an attack did, nothing setuid, setgid, device, FIFO, socket or
    world-writable may be left in the state dir, and the daemon raised nothing it did not
    name (an unhandled exception is logged with its traceback and answered as a 500)."""
    logged = tracebacks(host)
    yield
    assert unsafe_entries(host.daemon.state_dir) == []
    assert tracebacks(host) == logged, host.daemon.log.read_text()[-4000:]


def tracebacks(host: Arena) -> int:
    return host.daemon.log.read_text(errors="replace").count("Traceback (most recent call last)")
