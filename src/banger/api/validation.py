"""One line from a pydantic validation error, the same for the daemon and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from banger.names import NAME_RULE


def error_line(errors: Sequence[Mapping[str, Any]]) -> str:
    """'invalid <field>: <what is wrong>' for the first error; names get the naming rule."""
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    if first.get("type") == "string_pattern_mismatch" and where.endswith("name"):
        return f"invalid {where} {first.get('input')!r}: {NAME_RULE}"
    return f"invalid {where}: {first.get('msg', 'invalid value')}"
