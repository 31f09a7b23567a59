"""vm.env rendering: values survive a real shell unchanged; hostile values never get in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from banger.guest import GuestSettings, render_guest_files, render_vm_env


def source_env(env_text: str, tmp_path: Path, names: list[str]) -> list[str]:
    env = tmp_path / "vm.env"
    env.write_text(env_text)
    script = ". " + str(env) + "; " + "; ".join(f'printf "%s\\n" "${n}"' for n in names)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_vm_env_round_trips_through_sh(settings: GuestSettings, tmp_path: Path) -> None:
    text = render_vm_env(settings)
    names = ["BANGER_HOSTNAME", "BANGER_MAC", "BANGER_IP", "BANGER_PREFIX", "BANGER_GATEWAY"]
    names += ["BANGER_DNS", "BANGER_WORK_DEVICE", "BANGER_WORK_MOUNT", "BANGER_INIT"]
    values = source_env(text, tmp_path, names)
    assert values == [
        "vm-one",
        "02:fc:00:00:00:05",
        "10.77.0.5",
        "24",
        "10.77.0.1",
        "10.77.0.1 9.9.9.9",
        "/dev/vdb",
        "/work",
        "",
    ]


def test_extra_values_are_prefixed(settings_kwargs: dict, tmp_path: Path) -> None:
    settings = GuestSettings(**settings_kwargs, extra={"MODE": "agent", "PORT": "10000"})
    values = source_env(
        render_vm_env(settings), tmp_path, ["BANGER_EXTRA_MODE", "BANGER_EXTRA_PORT"]
    )
    assert values == ["agent", "10000"]


HOSTILE = [
    ("hostname", "a$(reboot)"),
    ("hostname", "a'b"),
    ("hostname", "a\nBANGER_IP=1.2.3.4"),
    ("hostname", "-leading"),
    ("hostname", "x" * 64),
    ("mac", "02:fc:00:00:00:05'; reboot; '"),
    ("mac", "02:fc:00:00:00"),
    ("ip", "10.0.0.1/24; reboot"),
    ("gateway", "10.0.0.1 `id`"),
    ("dns", ["1.1.1.1; reboot"]),
    ("work_device", "/dev/vdb; rm -rf /"),
    ("work_device", "/dev/../etc/shadow"),
    ("work_mount", "relative/path"),
    ("work_mount", "/work/../../etc"),
    ("work_mount", "/work dir"),
    ("init", "/sbin/init $(id)"),
    ("init", "/sbin/init\n/bin/sh"),
    ("authorized_keys", ["ssh-ed25519 AAAA\nssh-rsa BBBB"]),
    ("authorized_keys", ["not a key"]),
    ("host_key_public", "ssh-rsa AAAA"),
    ("host_key_private", "junk"),
    ("extra", {"lower": "x"}),
    ("extra", {"OK": "a'b"}),
    ("extra", {"OK": "$(id)"}),
    ("extra", {"OK": "two words"}),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_hostile_values_are_rejected(settings_kwargs: dict, field: str, value: object) -> None:
    settings_kwargs[field] = value
    with pytest.raises(ValidationError):
        GuestSettings(**settings_kwargs)


def test_guest_files(settings: GuestSettings, busybox: Path) -> None:
    files = {f.path: f for f in render_guest_files(settings, busybox)}
    assert set(files) == {
        "/banger/init",
        "/banger/busybox",
        "/banger/vm.env",
        "/banger/authorized_keys",
        "/banger/ssh_host_ed25519_key",
        "/banger/ssh_host_ed25519_key.pub",
    }
    assert files["/banger/init"].content.startswith(b"#!/banger/busybox sh\n")
    assert files["/banger/init"].mode == 0o755
    assert files["/banger/ssh_host_ed25519_key"].mode == 0o600
    assert files["/banger/busybox"].content == busybox.read_bytes()
    assert files["/banger/authorized_keys"].content.decode().endswith("user@host\n")
    subprocess.run(["sh", "-n"], input=files["/banger/init"].content, check=True)
