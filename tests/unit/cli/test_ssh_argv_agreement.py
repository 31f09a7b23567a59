"""One ssh command line: the CLI's `vm ssh/exec/cp` and the daemon's ssh build session log in
with the same options (pinned ed25519 host key, one identity, keepalives); they differ only
in where the pin lives, its alias, and the daemon ignoring root's own ssh config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import VM, VMState
from banger.cli import ssh as cli_ssh
from banger.daemon import build_ssh

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKey0000 root@vm"


def _vm() -> VM:
    return VM(
        id="abc123",
        name="dev",
        state=VMState.RUNNING,
        backend="qemu",
        image="debian-12",
        ip="10.77.0.2",
        cpus=1,
        memory_mib=512,
        ssh_host_key=HOST_KEY,
        created_at=datetime.now(UTC),
    )


def _options(argv: list[str]) -> dict[str, str]:
    """-o Name=value pairs, with the per-caller ones (pin file, alias) taken out."""
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-o"]
    options = dict(pair.split("=", 1) for pair in pairs)
    assert options.pop("UserKnownHostsFile") and options.pop("HostKeyAlias")
    return options


def test_cli_and_daemon_ssh_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = tmp_path / "id_ed25519"
    cli = cli_ssh.ssh_argv(_vm(), key, batch=True, tty=False)
    daemon = build_ssh._ssh_argv("10.77.0.2", key, tmp_path / "known_hosts")
    assert _options(cli) == _options(daemon)
    assert _options(cli)["StrictHostKeyChecking"] == "yes"
    assert daemon[:3] == ["ssh", "-F", "/dev/null"] and "-F" not in cli
    assert _normalized(cli) == _normalized([daemon[0], *daemon[3:]])


def _normalized(argv: list[str]) -> list[str]:
    return [
        a.split("=", 1)[0] if a.startswith(("UserKnownHostsFile=", "HostKeyAlias=")) else a
        for a in argv
    ]


def test_scp_uses_the_same_options_without_a_tty_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = tmp_path / "id_ed25519"
    scp = cli_ssh.scp_argv(_vm(), key, "a", "root@10.77.0.2:/b")
    ssh = cli_ssh.ssh_argv(_vm(), key, batch=True, tty=False)
    assert scp[:3] == ["scp", "-q", "-r"] and scp[-2:] == ["a", "root@10.77.0.2:/b"]
    assert scp[3:-2] == ssh[1:-2]  # everything but "ssh", "-T" and the destination
