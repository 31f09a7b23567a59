"""The one ssh command line banger runs: the user's `vm ssh`/`vm exec`/`vm cp` and the
daemon's `image build --via ssh` session.

Every login is root's, with exactly one identity, against a host key banger generated and
pinned under an alias in a known_hosts file of its own, ed25519 only: ssh never asks to
accept a key and host-key checking is never turned off. Keepalives end a session whose
guest died (a killed VM sends no RST) in two minutes instead of never.
"""

from __future__ import annotations

from pathlib import Path


def ssh_options(
    key: Path,
    known_hosts: Path,
    host_alias: str,
    *,
    batch: bool,
    ignore_user_config: bool = False,
) -> list[str]:
    """The options shared by ssh and scp (both take -F, -i and -o alike)."""
    # The daemon runs as root: root's own ssh config must not change how it connects.
    options = ["-F", "/dev/null"] if ignore_user_config else []
    options += ["-i", str(key)]
    for name, value in (
        ("IdentitiesOnly", "yes"),
        ("UserKnownHostsFile", str(known_hosts)),
        ("StrictHostKeyChecking", "yes"),
        ("HostKeyAlias", host_alias),
        ("HostKeyAlgorithms", "ssh-ed25519"),
        ("ConnectTimeout", "15"),
        ("ServerAliveInterval", "15"),
        ("ServerAliveCountMax", "8"),
        ("LogLevel", "ERROR"),
    ):
        options += ["-o", f"{name}={value}"]
    if batch:
        options += ["-o", "BatchMode=yes"]
    return options


def ssh_argv(
    ip: str,
    key: Path,
    known_hosts: Path,
    host_alias: str,
    *,
    batch: bool,
    tty: bool | None = None,
    ignore_user_config: bool = False,
) -> list[str]:
    """`ssh ... root@ip`; tty True forces a terminal (-t), False refuses one (-T)."""
    options = ssh_options(
        key, known_hosts, host_alias, batch=batch, ignore_user_config=ignore_user_config
    )
    argv = ["ssh", *options]
    if tty is True:
        argv.append("-t")
    elif tty is False:
        argv.append("-T")
    return [*argv, f"root@{ip}"]
