"""Load the daemon's TOML config into its pydantic models, turning every problem into one line.

(The user's config is config.user: no pydantic, since every CLI command reads it.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from banger.config.models import DEFAULT_DAEMON_CONFIG, DaemonConfig
from banger.config.toml_file import invalid_value, read_toml, unknown_key
from banger.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def _describe(error: ValidationError, path: Path) -> InvalidArgument:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return unknown_key(path, key)
    return invalid_value(path, key, first["msg"])


def load_model(model: type[M], path: Path, *, required: bool = False) -> M:
    """Parse `path` (missing and not required: defaults) and validate it against `model`."""
    data = read_toml(path, required=required)
    if data is None:
        return model()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, path) from None


def load_daemon_config(path: Path | None = None) -> DaemonConfig:
    explicit = path is not None or "BANGERD_CONFIG" in os.environ
    chosen = path or Path(os.environ.get("BANGERD_CONFIG", DEFAULT_DAEMON_CONFIG))
    return load_model(DaemonConfig, chosen, required=explicit)
