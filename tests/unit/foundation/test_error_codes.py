"""Every error code banger's source can produce is in errors.ERROR_CODES, the enum the API
document publishes for ErrorBody.code: a client switching on it never meets an unknown one."""

from __future__ import annotations

import ast
from pathlib import Path

from banger.errors import ERROR_CODES

SRC = Path(__file__).parents[3] / "src" / "banger"


def _codes_in(tree: ast.AST) -> set[str]:
    """`code = "x"` in a class body, `code="x"` in a call, {"code": "x"} in a dict
    literal, HostInputError("x", ...)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                if isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                value = getattr(statement, "value", None)
                named_code = any(isinstance(t, ast.Name) and t.id == "code" for t in targets)
                if named_code and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
        if isinstance(node, ast.Dict):  # an error body written out: {"code": "x", ...}
            for key, value in zip(node.keys, node.values, strict=True):
                is_code = isinstance(key, ast.Constant) and key.value == "code"
                if is_code and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    found.add(str(keyword.value.value))
            callee = node.func.id if isinstance(node.func, ast.Name) else None
            first = node.args[0] if node.args else None
            if callee == "HostInputError" and isinstance(first, ast.Constant):
                found.add(str(first.value))
    return found


def test_every_code_in_the_source_is_published() -> None:
    used: dict[str, str] = {}
    for source in sorted(SRC.rglob("*.py")):
        for code in _codes_in(ast.parse(source.read_text())):
            used.setdefault(code, str(source.relative_to(SRC)))
    unknown = {code: where for code, where in used.items() if code not in ERROR_CODES}
    assert not unknown, f"add these to banger.errors.ERROR_CODES: {unknown}"
    # The scan itself works: it sees the family's own codes and an ad hoc one.
    assert {"not_found", "step_failed", "build_failed", "interrupted"} <= set(used)


def test_the_published_codes_are_all_in_use() -> None:
    used: set[str] = set()
    for source in SRC.rglob("*.py"):
        used |= _codes_in(ast.parse(source.read_text()))
    assert set(ERROR_CODES) - used == set(), "a code nothing raises any more: drop it"
