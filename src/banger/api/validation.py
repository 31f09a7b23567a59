"""One line from a pydantic validation error, the same for the daemon and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from banger.names import NAME_RULE


def error_line(
    errors: Sequence[Mapping[str, Any]], spelled: Mapping[str, str] | None = None
) -> str:
    """'invalid <field>: <what is wrong>' for the first error; names get the naming rule.

    `spelled` maps model fields to what the user typed (e.g. timeout_s → --timeout).
    """
    first = errors[0]
    parts = [str(p) for p in first.get("loc", ()) if p != "body"]
    where = ".".join((spelled or {}).get(p, p) for p in parts) or "request"
    if first.get("type") == "string_pattern_mismatch" and where.endswith("name"):
        return f"invalid {where} {first.get('input')!r}: {NAME_RULE}"
    return f"invalid {where}: {first.get('msg', 'invalid value')}"
