"""The name rule exists once (banger.names): the API's request models accept exactly the
names validate_name accepts, so a name the CLI's model lets through is never refused
later by a service (or the other way round)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from banger.api.requests import ImageRegister, KernelImport, VMCreate
from banger.errors import InvalidArgument
from banger.names import validate_name

CANDIDATES = [
    "a", "dev-1", "x" * 63, "0abc",  # valid
    "", "-a", "a-", "A", "a_b", "a/b", "..", "x" * 64, "a b", "é",
    "abc\n", "\nabc", "abc\r\n",  # `$` matches before a final newline in Python's re
]  # fmt: skip


def _service_accepts(name: str) -> bool:
    try:
        validate_name("vm", name)
    except InvalidArgument:
        return False
    return True


def _request_accepts(name: str) -> bool:
    try:
        VMCreate(name=name)
        KernelImport(name=name, source="/x")
        ImageRegister(name=name, rootfs="/x", kernel_ref="k")
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", CANDIDATES)
def test_requests_and_services_accept_the_same_names(name: str) -> None:
    assert _request_accepts(name) == _service_accepts(name)


def test_a_trailing_newline_is_refused_by_both() -> None:
    assert not _service_accepts("abc\n") and not _request_accepts("abc\n")
