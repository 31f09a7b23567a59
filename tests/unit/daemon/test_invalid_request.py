"""The one line a refused request gets names where the problem is and which rule it broke."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from banger.api.requests import ImageBuild, ImageRegister, KernelImport, VMCreate
from banger.daemon.invalid_request import request_error_line
from banger.names import NAME_RULE


def _line(model: type[BaseModel], body: Any) -> str:
    """What the daemon answers for `body`: FastAPI reports body errors under loc "body"."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in refused.value.errors()]
    return request_error_line(errors)


def test_a_missing_field_is_named() -> None:
    assert _line(KernelImport, {"name": "k"}) == "missing body field 'source': required"


def test_an_empty_path_is_shown_as_empty_and_the_rule_said() -> None:
    line = _line(ImageRegister, {"name": "i", "rootfs": "", "kernel_ref": "k"})
    assert line == "invalid body field 'rootfs' '': must be an absolute path"


def test_a_bad_name_gets_the_naming_rule() -> None:
    line = _line(KernelImport, {"name": "Big", "source": "/k"})
    assert line == f"invalid body field 'name' 'Big': {NAME_RULE}"


def test_a_nested_field_is_named_by_its_path() -> None:
    body = {"from_image": "b", "name": "n", "steps": [{"kind": "run", "text": "x"}, {"kind": 1}]}
    line = _line(ImageBuild, body)
    assert line.startswith("invalid body field 'steps.1.kind' 1: Input should be 'run'")


def test_a_whole_body_rule_speaks_of_the_body_and_counts_the_rest() -> None:
    line = _line(ImageRegister, {"name": "i", "rootfs": "/r"})
    assert line == (
        "invalid request body: give exactly one of kernel_ref (--kernel-ref) and "
        "kernel_file (--kernel)"
    )
    line = _line(VMCreate, {"cpus": 0, "memory_mib": 1, "colour": "red"})
    assert line.startswith("invalid body field 'cpus' 0: ") and line.endswith(
        "(and 2 more problems)"
    )


def test_query_and_path_parameters_are_named_as_such() -> None:
    wrong = {
        "type": "bool_parsing",
        "loc": ("query", "wait"),
        "msg": "Input should be a valid boolean",
        "input": "x",
    }
    assert request_error_line([wrong]) == (
        "invalid query parameter 'wait' 'x': Input should be a valid boolean"
    )
    missing = {"type": "missing", "loc": ("path", "name"), "msg": "Field required"}
    assert request_error_line([missing]) == "missing path parameter 'name': required"


def test_a_long_value_is_cut_short() -> None:
    line = _line(KernelImport, {"name": "k" * 500, "source": "/k"})
    assert len(line) < 300 and "..." in line


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"kernel_ref": "k", "kernel_file": "/k"}, "give exactly one of"),
        ({}, "give exactly one of"),
        ({"kernel_ref": "k", "initrd": "/i"}, "initrd and modules go with kernel_file"),
        ({"kernel_file": "/k", "modules": "/m"}, "modules without initrd cannot boot"),
    ],
)
def test_register_refuses_the_kernel_combinations_the_document_excludes(
    body: dict[str, str], problem: str
) -> None:
    assert problem in _line(ImageRegister, {"name": "i", "rootfs": "/r", **body})


def test_register_accepts_both_combinations_the_document_allows() -> None:
    ImageRegister.model_validate({"name": "i", "rootfs": "/r", "kernel_ref": "k"})
    ImageRegister.model_validate(
        {"name": "i", "rootfs": "/r", "kernel_file": "/k", "initrd": "/i", "modules": "/m"}
    )
