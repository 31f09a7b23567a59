"""Request bodies of the /v1 API."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from banger.names import NAME_PATTERN as _NAME

# The most any size field may ask for, whatever the config says: 16 TiB, the largest ext4
# with 4 KiB blocks. The daemon's own, lower ceiling is [limits] max_disk_mib.
_MAX_MIB = 16 << 20


# A host path the daemon opens as the caller: absolute, no NUL byte (the OS refuses one).
ABSOLUTE_PATH = r"^/[^\x00]*$"
HostPath = Annotated[str, Field(pattern=ABSOLUTE_PATH, max_length=4096)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KernelImport(_Request):
    name: str = Field(pattern=_NAME)
    source: HostPath
    modules_dir: HostPath | None = None
    initrd: HostPath | None = None


class KernelFetch(_Request):
    distro: Literal["debian"] = "debian"
    name: str | None = Field(default=None, pattern=_NAME)


class KernelPull(_Request):
    """`kernel pull REF`: a catalog artifact or an ignite-style kernel image."""

    ref: str = Field(min_length=1, max_length=512)
    name: str | None = Field(default=None, pattern=_NAME)
    platform: str = Field(default="linux/amd64", pattern=r"^linux/(amd64|arm64)(/v[0-9])?$")
    insecure: bool = False
    docker_config: HostPath | None = None


class KernelPublish(_Request):
    """`kernel publish NAME REF`: push a managed kernel to a tag."""

    ref: str = Field(min_length=1, max_length=512)
    insecure: bool = False
    docker_config: HostPath | None = None


# ImageRegister's kernel combinations, for the document: a managed kernel (kernel_ref, which
# brings its own initrd and modules), or a host kernel file with an optional initrd and
# modules only with that initrd. The model validator below enforces the same.
_REGISTER_KERNEL: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["kernel_ref"],
            "properties": {
                "kernel_ref": {"type": "string"},
                "kernel_file": {"type": "null"},
                "initrd": {"type": "null"},
                "modules": {"type": "null"},
            },
        },
        {
            "required": ["kernel_file"],
            "properties": {"kernel_file": {"type": "string"}, "kernel_ref": {"type": "null"}},
            "anyOf": [
                {"properties": {"modules": {"type": "null"}}},
                {"required": ["initrd"], "properties": {"initrd": {"type": "string"}}},
            ],
        },
    ]
}


class ImageRegister(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_REGISTER_KERNEL)

    name: str = Field(pattern=_NAME)
    rootfs: HostPath
    kernel_ref: str | None = Field(default=None, min_length=1, max_length=255)
    kernel_file: HostPath | None = None  # a host kernel file (the CLI's --kernel FILE)
    initrd: HostPath | None = None
    modules: HostPath | None = None
    work_seed: HostPath | None = None

    @model_validator(mode="after")
    def _kernel_combination(self) -> ImageRegister:
        if (self.kernel_ref is None) == (self.kernel_file is None):
            raise ValueError(
                "give exactly one of kernel_ref (--kernel-ref) and kernel_file (--kernel)"
            )
        if self.kernel_ref is not None and (self.initrd or self.modules):
            raise ValueError(
                "initrd and modules go with kernel_file (--kernel FILE), not kernel_ref"
            )
        if self.modules and not self.initrd:
            raise ValueError("modules without initrd cannot boot: nothing loads them")
        return self


class ImageBootstrap(_Request):
    distro: Literal["debian"] = "debian"
    name: str = Field(pattern=_NAME)
    kernel_ref: str | None = None
    suite: str = Field(default="bookworm", pattern=r"^[a-z]{2,20}$")
    free_mib: int | None = Field(default=None, ge=16, le=_MAX_MIB)
    packages: list[str] = Field(default_factory=list)


class ImagePull(_Request):
    ref: str = Field(min_length=1, max_length=512)
    kernel_ref: str | None = None
    name: str | None = Field(default=None, pattern=_NAME)
    platform: str = Field(default="linux/amd64", pattern=r"^linux/(amd64|arm64)(/v[0-9])?$")
    size_mib: int | None = Field(default=None, ge=16, le=_MAX_MIB)
    free_mib: int | None = Field(default=None, ge=0, le=_MAX_MIB)
    insecure: bool = False
    docker_config: HostPath | None = None


def _image_required(schema: dict[str, Any]) -> None:
    """The document requires `image`: the daemon refuses a create without one. The model
    lets it be missing so that refusal can carry its hint (set default_image_name)."""
    schema.setdefault("required", []).append("image")
    schema["properties"]["image"] = {"type": "string", "minLength": 1, "maxLength": 255}


class VMCreate(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_image_required)

    name: str | None = Field(default=None, pattern=_NAME)
    image: str | None = Field(default=None, max_length=255)
    cpus: int | None = Field(default=None, ge=1, le=64)
    memory_mib: int | None = Field(default=None, ge=64, le=1_048_576)
    disk_size_mib: int | None = Field(default=None, ge=64, le=_MAX_MIB)
    backend: Literal["qemu", "firecracker"] | None = None
    start: bool = True
    wait: bool = False
    ssh_public_key: str | None = Field(default=None, max_length=16384)


ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"

# What each kind of step needs, for the document (the model validator enforces the same).
_STEP_KINDS: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["kind", "text"],
            "properties": {"kind": {"enum": ["run", "script"]}, "text": {"pattern": r"\S"}},
        },
        {
            "required": ["kind", "src", "dst"],
            "properties": {
                "kind": {"const": "copy"},
                "src": {"type": "string", "pattern": "^/"},
                "dst": {"type": "string", "pattern": r"^/[^\n]*$"},
            },
        },
    ]
}


class BuildStep(_Request):
    """One provisioning step of `image build`, run as root inside the builder VM.

    run: `text` is a shell command line. script: `text` is the script's content (the CLI
    reads the file, so the daemon never opens user script paths) and `name` its file name.
    copy: `src` is an absolute host path the daemon reads, `dst` an absolute guest path.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_STEP_KINDS)

    kind: Literal["run", "script", "copy"]
    text: str = Field(default="", max_length=1_048_576)
    name: str | None = Field(default=None, max_length=255)
    src: str | None = Field(default=None, max_length=4096)
    dst: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> BuildStep:
        if self.kind in ("run", "script") and not self.text.strip():
            raise ValueError(f"a {self.kind} step needs a non-empty text")
        if self.kind == "copy":
            if not self.src or not self.src.startswith("/"):
                raise ValueError("a copy step needs an absolute host path as src")
            if not self.dst or not self.dst.startswith("/") or "\n" in self.dst:
                raise ValueError("a copy step needs an absolute guest path as dst")
        return self


# At most one of size_mib and free_mib (as numbers: both null is fine), for the document.
_ONE_SIZE: dict[str, Any] = {
    "not": {
        "required": ["size_mib", "free_mib"],
        "properties": {"size_mib": {"type": "integer"}, "free_mib": {"type": "integer"}},
    }
}


class ImageBuild(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SIZE)

    from_image: str = Field(min_length=1, max_length=255)
    name: str = Field(pattern=_NAME)
    steps: list[BuildStep] = Field(min_length=1, max_length=1000)
    env: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={
            "propertyNames": {"pattern": ENV_KEY},
            "additionalProperties": {"type": "string", "pattern": r"^[^\x00]*$"},
        },
    )
    size_mib: int | None = Field(default=None, ge=16, le=_MAX_MIB)
    free_mib: int | None = Field(default=None, ge=0, le=_MAX_MIB)
    kernel_ref: str | None = None
    cpus: int | None = Field(default=None, ge=1, le=32)
    memory_mib: int | None = Field(default=None, ge=128, le=1_048_576)
    timeout_s: int = Field(default=7200, ge=10, le=86400)
    # How steps reach the builder: "ssh" (the base boots its own init and sshd, steps run
    # in an ssh session), "console" (build mode: steps run before the base's init, output
    # comes back on the serial console), or "auto" (ssh when the base has an sshd).
    via: Literal["auto", "ssh", "console"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> ImageBuild:
        if self.size_mib is not None and self.free_mib is not None:
            raise ValueError("give at most one of size and free")
        for key, value in self.env.items():
            if not re.fullmatch(ENV_KEY, key):
                raise ValueError(f"env name {key[:40]!r} must match {ENV_KEY}")
            if "\x00" in value:
                raise ValueError(f"env value of {key} contains a NUL byte")
        return self
