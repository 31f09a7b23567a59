"""Load TOML config files into the typed models, turning every problem into one line."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from banger.config.models import DEFAULT_DAEMON_CONFIG, DaemonConfig, UserConfig
from banger.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def user_config_path() -> Path:
    override = os.environ.get("BANGER_CONFIG")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "banger" / "config.toml"


def _describe(error: ValidationError, path: Path) -> InvalidArgument:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidArgument(
            f"{path}: unknown key '{key}'",
            hint=f"remove '{key}' or fix its spelling; see docs/config.md for the valid keys",
        )
    return InvalidArgument(
        f"{path}: invalid value for '{key}': {first['msg']}",
        hint=f"set '{key}' to a valid value in {path}",
    )


def load_model(model: type[M], path: Path, *, required: bool = False) -> M:
    """Parse `path` (missing and not required: defaults) and validate it against `model`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise InvalidArgument(
                f"config file {path} does not exist", hint="create it or drop the override"
            ) from None
        return model()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read config file {path}: {exc.strerror}", hint="check its permissions"
        ) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8", errors="strict"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax at the position named"
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, path) from None


def load_daemon_config(path: Path | None = None) -> DaemonConfig:
    explicit = path is not None or "BANGERD_CONFIG" in os.environ
    chosen = path or Path(os.environ.get("BANGERD_CONFIG", DEFAULT_DAEMON_CONFIG))
    return load_model(DaemonConfig, chosen, required=explicit)


def load_user_config(path: Path | None = None) -> UserConfig:
    explicit = path is not None or "BANGER_CONFIG" in os.environ
    return load_model(UserConfig, path or user_config_path(), required=explicit)
