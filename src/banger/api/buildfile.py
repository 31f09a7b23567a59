"""`banger-build.toml`: a reviewable, repeatable `image build`, turned into an ImageBuild.

    from = "debian-12"
    name = "debian-12-tools"
    free = "512M"
    env = { APP_ENV = "prod" }

    [[step]]
    run = "apt-get update && apt-get install -y curl"
    [[step]]
    copy = "files/app.conf:/etc/app/app.conf"
    [[step]]
    script = "scripts/setup.sh"

Relative paths (script files, copy sources) are relative to the build file's directory.
Errors are one line naming the file and the key. Lives in banger.api (not banger.images)
because the CLI turns it into a request and the CLI imports only api and client.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from banger.api.requests import BuildStep, ImageBuild
from banger.api.validation import error_line
from banger.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_TO_MIB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_size_mib(value: str | int, what: str) -> int:
    """'512M', '2G', '1.5GiB' or a bare number of MiB → MiB (rounded up)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidArgument(f"{what} must not be negative", hint="e.g. 512M or 2G")
        return value
    match = _SIZE.fullmatch(str(value))
    if match is None:
        raise InvalidArgument(
            f"{what} {str(value)[:40]!r} is not a size", hint="write e.g. 512M, 2G or 1024 (MiB)"
        )
    mib = float(match[1]) * _TO_MIB[match[2].upper()]
    return int(-(-mib // 1))


def split_copy(spec: str, base: Path) -> BuildStep:
    """'SRC:/DST' → a copy step; SRC is made absolute against `base` (the split is at ':/')."""
    src, sep, dst = spec.partition(":/")
    if not sep or not src:
        raise InvalidArgument(
            f"copy {spec[:60]!r} is not SRC:DST with an absolute DST",
            hint="write it like ./app.conf:/etc/app/app.conf",
        )
    path = Path(src).expanduser()
    return BuildStep(kind="copy", src=str((base / path).absolute()), dst="/" + dst)


def script_step(path: Path) -> BuildStep:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"cannot read script {path}: {exc}", hint="give a readable UTF-8 text file"
        ) from exc
    if not text.strip():
        raise InvalidArgument(f"script {path} is empty", hint="give a script with commands")
    return BuildStep(kind="script", text=text, name=path.name)


class FileStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str | None = None
    script: str | None = None
    copy_: str | None = Field(default=None, alias="copy")

    @model_validator(mode="after")
    def _exactly_one(self) -> FileStep:
        if sum(v is not None for v in (self.run, self.script, self.copy_)) != 1:
            raise ValueError("each [[step]] needs exactly one of run, script, copy")
        return self


class BuildFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    name: str | None = None
    step: list[FileStep] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    size: str | int | None = None
    free: str | int | None = None
    kernel_ref: str | None = None
    cpus: int | None = None
    memory: str | int | None = None
    timeout: int | None = None
    via: Literal["auto", "ssh", "console"] | None = None


def load_build_file(path: Path, overrides: dict[str, Any] | None = None) -> ImageBuild:
    """Read and validate a build file; `overrides` (from CLI flags) replace its fields."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InvalidArgument(f"cannot read build file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax (see docs/image-build.md)"
        ) from exc
    parsed = _validated(
        BuildFile, raw, str(path), "see docs/image-build.md for the build file format"
    )
    base = path.parent
    steps = []
    for index, item in enumerate(parsed.step):
        try:
            if item.run is not None:
                steps.append(BuildStep(kind="run", text=item.run))
            elif item.script is not None:
                steps.append(script_step(base / Path(item.script).expanduser()))
            else:
                steps.append(split_copy(item.copy_ or "", base))
        except InvalidArgument as exc:
            raise InvalidArgument(f"{path}: step.{index}: {exc.message}", hint=exc.hint) from None
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            raise InvalidArgument(
                f"{path}: step.{index}: {message}", hint="see docs/image-build.md"
            ) from None
    body: dict[str, Any] = {
        "from_image": parsed.from_,
        "name": parsed.name,
        "steps": steps,
        "env": parsed.env,
        "size_mib": parse_size_mib(parsed.size, f"{path}: size") if parsed.size else None,
        "free_mib": parse_size_mib(parsed.free, f"{path}: free")
        if parsed.free is not None
        else None,
        "kernel_ref": parsed.kernel_ref,
        "cpus": parsed.cpus,
        "memory_mib": parse_size_mib(parsed.memory, f"{path}: memory") if parsed.memory else None,
    }
    if parsed.timeout is not None:
        body["timeout_s"] = parsed.timeout
    if parsed.via is not None:
        body["via"] = parsed.via
    body.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if body.get("size_mib") is not None and body.get("free_mib") is not None:
        # a flag given on the command line wins over the file's other sizing key
        dropped = "free_mib" if (overrides or {}).get("size_mib") is not None else "size_mib"
        body[dropped] = None
    if not body["name"]:
        raise InvalidArgument(
            f"{path}: name: no image name", hint='set name = "..." in the file or pass --name'
        )
    return build_request(body, str(path), FILE_KEYS)


# How the request's fields are spelled in a build file and on the command line.
FILE_KEYS = {
    "from_image": "from",
    "size_mib": "size",
    "free_mib": "free",
    "memory_mib": "memory",
    "timeout_s": "timeout",
    "steps": "step",
}
CLI_FLAGS = {
    "from_image": "--from-image",
    "name": "--name",
    "size_mib": "--size",
    "free_mib": "--free",
    "memory_mib": "--memory",
    "timeout_s": "--timeout",
    "kernel_ref": "--kernel-ref",
    "cpus": "--cpus",
    "via": "--via",
    "env": "--env",
    "steps": "step",
}


def build_request(
    body: dict[str, Any], origin: str, spelled: dict[str, str] | None = None
) -> ImageBuild:
    """Validate a request body, with a one-line error naming `origin` and the field."""
    return _validated(
        ImageBuild,
        body,
        origin,
        "see `banger image build --help` and docs/image-build.md",
        spelled,
    )


def _validated(
    model: type[M], data: Any, origin: str, hint: str, spelled: dict[str, str] | None = None
) -> M:
    """`model` from `data`, or one InvalidArgument line: origin, field, what is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        line = error_line(exc.errors(), spelled)
        raise InvalidArgument(f"{origin}: {line}", hint=hint) from None
