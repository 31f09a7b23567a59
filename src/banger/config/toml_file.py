"""Read a TOML config file, turning a missing, unreadable or malformed one into one line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from banger.errors import InvalidArgument


def read_toml(path: Path, *, required: bool) -> dict[str, Any] | None:
    """The parsed file; None when it is missing and not required (the caller's defaults)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise InvalidArgument(
                f"config file {path} does not exist", hint="create it or drop the override"
            ) from None
        return None
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read config file {path}: {exc.strerror}", hint="check its permissions"
        ) from exc
    try:
        return tomllib.loads(raw.decode("utf-8", errors="strict"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax at the position named"
        ) from exc


def unknown_key(path: Path, key: str) -> InvalidArgument:
    return InvalidArgument(
        f"{path}: unknown key '{key}'",
        hint=f"remove '{key}' or fix its spelling; see docs/config.md for the valid keys",
    )


def invalid_value(path: Path, key: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"{path}: invalid value for '{key}': {why}", hint=f"set '{key}' to a valid value in {path}"
    )
