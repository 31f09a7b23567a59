"""One line for a request that failed validation: where (body field, query or path
parameter) and which rule, e.g. "invalid body field 'source': must be an absolute path"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from banger.api.requests import ABSOLUTE_PATH
from banger.names import NAME_PATTERN, NAME_RULE

_PLACES = {"body": "body field", "query": "query parameter", "path": "path parameter"}
_RULES = {NAME_PATTERN: NAME_RULE, ABSOLUTE_PATH: "must be an absolute path"}
_SHOWN = 60  # characters of a refused value quoted in the message


def _where(loc: Sequence[Any]) -> str:
    """'body field 'steps.0.src'', 'query parameter 'wait'', or 'request body' (whole)."""
    source, *path = [str(part) for part in loc] or ["body"]
    if not path:
        return "request body" if source == "body" else source
    return f"{_PLACES.get(source, source)} '{'.'.join(path)}'"


def _rule(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a field of this request"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _RULES:
        return _RULES[ctx["pattern"]]
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _shown(error: Mapping[str, Any]) -> str:
    """The refused value, quoted and cut short, when there is one worth showing."""
    if error.get("type") == "missing" or "input" not in error:
        return ""
    value = error["input"]
    if isinstance(value, dict | list):
        return ""
    text = repr(value)
    return f" {text[:_SHOWN]}{'...' if len(text) > _SHOWN else ''}"


def request_error_line(errors: Sequence[Mapping[str, Any]]) -> str:
    """The first problem in one line; how many others there are, if any."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = first.get("loc", ())
    if first.get("type") == "json_invalid":  # its loc is ("body", offset): no field to name
        offset = loc[1] if len(loc) > 1 else 0
        error = (first.get("ctx") or {}).get("error", "decode error")
        return f"invalid request body: not valid JSON at character {offset} ({error})"
    where = _where(loc)
    if first.get("type") == "missing" and where == "request body":
        line = "missing request body: send a JSON object"
    elif first.get("type") == "missing":
        line = f"missing {where}: required"
    else:
        line = f"invalid {where}{_shown(first)}: {_rule(first)}"
    more = len(errors) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
