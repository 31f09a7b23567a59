"""The user's config (~/.config/banger/config.toml), checked by hand rather than by pydantic.

Every `banger` command reads this file before it knows its verb, and importing pydantic
alone costs more than a quick verb's whole budget (docs/ARCHITECTURE.md, the cli row). Three
keys do not need it; the errors read exactly like the daemon config's (config.toml_file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from banger.config.toml_file import invalid_value, read_toml, unknown_key

DEFAULT_SOCKET = Path("/run/banger/bangerd.sock")


@dataclass(frozen=True)
class UserConfig:
    socket_path: Path = DEFAULT_SOCKET
    default_image_name: str | None = None
    ssh_key_path: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "socket_path": str(self.socket_path),
            "default_image_name": self.default_image_name,
            "ssh_key_path": str(self.ssh_key_path) if self.ssh_key_path else None,
        }


def user_config_path() -> Path:
    override = os.environ.get("BANGER_CONFIG")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "banger" / "config.toml"


def _string(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise invalid_value(path, key, f"must be a string, got {type(value).__name__}")
    return value


def _absolute_path(path: Path, key: str, value: object) -> Path:
    """A path with ~ expanded, which must then be absolute (the CLI runs from anywhere)."""
    expanded = Path(_string(path, key, value)).expanduser()
    if not expanded.is_absolute():
        raise invalid_value(path, key, f"must be an absolute path, got {str(value)!r}")
    return expanded


def parse_user_config(data: dict[str, Any], path: Path) -> UserConfig:
    for key in data:
        if key not in UserConfig.__dataclass_fields__:
            raise unknown_key(path, key)
    socket, image, ssh_key = (
        data.get(key) for key in ("socket_path", "default_image_name", "ssh_key_path")
    )
    return UserConfig(
        socket_path=DEFAULT_SOCKET
        if socket is None
        else _absolute_path(path, "socket_path", socket),
        default_image_name=None if image is None else _string(path, "default_image_name", image),
        ssh_key_path=None if ssh_key is None else _absolute_path(path, "ssh_key_path", ssh_key),
    )


def load_user_config(path: Path | None = None) -> UserConfig:
    """The file at `path` (or BANGER_CONFIG, or the default); a missing default: defaults."""
    explicit = path is not None or "BANGER_CONFIG" in os.environ
    chosen = path or user_config_path()
    data = read_toml(chosen, required=explicit)
    return UserConfig() if data is None else parse_user_config(data, chosen)
