from __future__ import annotations

from pathlib import Path

import pytest

from banger.guest import GuestSettings, generate_host_keypair


@pytest.fixture(scope="session")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return generate_host_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def settings_kwargs(host_keys: tuple[str, str]) -> dict:
    private, public = host_keys
    return {
        "hostname": "vm-one",
        "mac": "02:FC:00:00:00:05",
        "ip": "10.77.0.5/24",
        "gateway": "10.77.0.1",
        "dns": ["10.77.0.1", "9.9.9.9"],
        "authorized_keys": [public.replace("banger", "user@host")],
        "host_key_private": private,
        "host_key_public": public,
        "work_device": "/dev/vdb",
    }


@pytest.fixture
def settings(settings_kwargs: dict) -> GuestSettings:
    return GuestSettings(**settings_kwargs)


@pytest.fixture
def busybox() -> Path:
    return Path("/bin/busybox")
