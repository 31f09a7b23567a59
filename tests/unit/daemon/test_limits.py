"""Request ceilings: every number a request carries is bounded by its model, and sizes,
memory and vCPUs by the configured [limits] and the free space where disks will live."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
from annotated_types import Le
from pydantic import BaseModel

from banger.api import requests
from banger.api.buildfile import load_build_file
from banger.api.requests import ImageBuild, VMCreate
from banger.config.models import LimitSettings
from banger.daemon.limits import check_request
from banger.errors import FailedPrecondition, InvalidArgument


def _request_models() -> list[type[BaseModel]]:
    return [
        model
        for _, model in inspect.getmembers(requests, inspect.isclass)
        if issubclass(model, requests._Request) and model is not requests._Request
    ]


def _is_int(annotation: object) -> bool:
    return annotation is int or (hasattr(annotation, "__args__") and int in annotation.__args__)


def test_every_integer_in_a_request_has_an_upper_bound() -> None:
    unbounded = [
        f"{model.__name__}.{name}"
        for model in _request_models()
        for name, field in model.model_fields.items()
        if _is_int(field.annotation) and not any(isinstance(m, Le) for m in field.metadata)
    ]
    assert unbounded == []
    assert len(_request_models()) >= 6  # the walk really saw the request models


def test_sizes_memory_and_cpus_over_the_limits_are_refused(tmp_path: Path) -> None:
    limits = LimitSettings(max_disk_mib=1024, max_memory_mib=512, max_cpus=2)
    check_request(VMCreate(disk_size_mib=1024, memory_mib=512, cpus=2), limits, tmp_path)
    with pytest.raises(InvalidArgument) as err:
        check_request(VMCreate(disk_size_mib=10_485_760), limits, tmp_path)
    assert err.value.message == (
        "--disk-size 10485760 MiB is above the limit 1024 MiB (config limits.max_disk_mib)"
    )
    assert err.value.hint and "max_disk_mib" in err.value.hint
    with pytest.raises(InvalidArgument, match="--memory 513 MiB is above the limit 512"):
        check_request(VMCreate(memory_mib=513), limits, tmp_path)
    with pytest.raises(InvalidArgument, match="--cpus 3 is above the limit 2"):
        check_request(VMCreate(cpus=3), limits, tmp_path)
    build = ImageBuild(from_image="b", name="n", steps=[{"kind": "run", "text": "true"}])
    with pytest.raises(InvalidArgument, match="--free 2048 MiB is above"):
        check_request(build.model_copy(update={"free_mib": 2048}), limits, tmp_path)


def test_a_size_larger_than_the_free_space_is_refused(tmp_path: Path) -> None:
    free_mib = shutil.disk_usage(tmp_path).free >> 20
    limits = LimitSettings(max_disk_mib=16 << 20)
    with pytest.raises(FailedPrecondition, match=f"--disk-size {free_mib + 1024} MiB is more"):
        check_request(VMCreate(disk_size_mib=free_mib + 1024), limits, tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("size = 20000000", "size: Input should be less than or equal to 16777216"),
        ("cpus = 1000", "cpus: Input should be less than or equal to 32"),
        ("timeout = 99999999", "timeout: Input should be less than or equal to 86400"),
    ],
)
def test_build_file_numbers_are_bounded_with_one_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "banger-build.toml"
    path.write_text(f'from = "base"\nname = "n"\n{line}\n[[step]]\nrun = "true"\n')
    with pytest.raises(InvalidArgument) as err:
        load_build_file(path)
    assert message in err.value.message and "\n" not in err.value.message
