"""The per-VM settings banger hands to its guest, and their rendering as /banger/vm.env.

vm.env is sourced by a shell running as PID 1, so every value is validated against a
strict pattern *and* single-quoted: either check alone would stop injection, both
together make it impossible to get wrong later.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface

from pydantic import BaseModel, field_validator

HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
GUEST_PATH = re.compile(r"^/[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*$")
DEVICE = re.compile(r"^/dev/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
EXTRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
EXTRA_VALUE = re.compile(r"^[A-Za-z0-9._,:/=@+-]{0,1024}$")
SSH_PUBLIC_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"
    r"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+( [\x20-\x7e]*)?$"
)
PRIVATE_KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
PRIVATE_KEY_END = "-----END OPENSSH PRIVATE KEY-----"


def _is_safe_path(value: str) -> bool:
    return bool(GUEST_PATH.fullmatch(value)) and ".." not in value.split("/")


class GuestSettings(BaseModel):
    hostname: str
    mac: str
    ip: IPv4Interface
    gateway: IPv4Address | None = None
    dns: list[IPv4Address] = []
    authorized_keys: list[str] = []
    host_key_private: str
    host_key_public: str
    work_device: str | None = None
    work_mount: str = "/work"
    init: str | None = None
    extra: dict[str, str] = {}

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not HOSTNAME.fullmatch(value):
            raise ValueError("hostname must be one DNS label: letters, digits, inner '-'")
        return value.lower()

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        value = value.lower()
        if not MAC.fullmatch(value):
            raise ValueError("mac must look like 02:fc:00:00:00:05")
        return value

    @field_validator("authorized_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not SSH_PUBLIC_KEY.fullmatch(key):
                raise ValueError("each authorized key must be one OpenSSH public key line")
        return value

    @field_validator("host_key_public")
    @classmethod
    def _host_public(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("ssh-ed25519 ") or not SSH_PUBLIC_KEY.fullmatch(value):
            raise ValueError("host_key_public must be one ssh-ed25519 public key line")
        return value

    @field_validator("host_key_private")
    @classmethod
    def _host_private(cls, value: str) -> str:
        text = value.strip()
        if not (text.startswith(PRIVATE_KEY_BEGIN) and text.endswith(PRIVATE_KEY_END)):
            raise ValueError("host_key_private must be an OpenSSH private key")
        return text + "\n"

    @field_validator("work_device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None and (not DEVICE.fullmatch(value) or ".." in value.split("/")):
            raise ValueError("work_device must be a /dev/ path such as /dev/vdb")
        return value

    @field_validator("work_mount", "init")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not _is_safe_path(value):
            raise ValueError("must be an absolute path of letters, digits and ._+@-")
        return value

    @field_validator("extra")
    @classmethod
    def _extra(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not EXTRA_KEY.fullmatch(key):
                raise ValueError(f"extra key {key[:40]!r} must match {EXTRA_KEY.pattern}")
            if not EXTRA_VALUE.fullmatch(item):
                raise ValueError(f"extra value for {key} must match {EXTRA_VALUE.pattern}")
        return value


def _quote(value: str) -> str:
    # Validation already excludes quotes; refuse anyway rather than emit broken shell.
    if "'" in value or "\n" in value:
        raise ValueError("value contains a quote or newline")
    return f"'{value}'"


def render_vm_env(settings: GuestSettings) -> str:
    """The text of /banger/vm.env: one `KEY='value'` per line, sourced by /banger/init."""
    values: dict[str, str] = {
        "BANGER_HOSTNAME": settings.hostname,
        "BANGER_MAC": settings.mac,
        "BANGER_IP": str(settings.ip.ip),
        "BANGER_PREFIX": str(settings.ip.network.prefixlen),
        "BANGER_GATEWAY": str(settings.gateway) if settings.gateway else "",
        "BANGER_DNS": " ".join(str(server) for server in settings.dns),
        "BANGER_WORK_DEVICE": settings.work_device or "",
        "BANGER_WORK_MOUNT": settings.work_mount,
        "BANGER_INIT": settings.init or "",
    }
    for key, item in sorted(settings.extra.items()):
        values[f"BANGER_EXTRA_{key}"] = item
    lines = ["# written by banger before boot; sourced by /banger/init"]
    lines += [f"{key}={_quote(item)}" for key, item in values.items()]
    return "\n".join(lines) + "\n"
