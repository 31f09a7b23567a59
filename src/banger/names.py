"""Validation of user-supplied names before they reach paths, devices or the database."""

from __future__ import annotations

import re

from banger.errors import InvalidArgument

# DNS label rules (RFC 1123): lower-case letters, digits and '-', not at either end.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_NAME = re.compile(NAME_PATTERN)
NAME_RULE = "use 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit"


def validate_name(kind: str, name: str) -> str:
    """Return `name` if it is a valid DNS label, else raise one clear error naming the rule."""
    # fullmatch: `$` alone also matches before a trailing newline, which the API's
    # pydantic pattern (Rust regex) does not; both must accept exactly the same names.
    if not _NAME.fullmatch(name or ""):
        raise InvalidArgument(
            f"invalid {kind} name {name!r}",
            hint=f"{NAME_RULE} (e.g. 'dev-1')",
        )
    return name
