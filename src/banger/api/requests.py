"""Request bodies of the /v1 API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KernelImport(_Request):
    name: str = Field(pattern=_NAME)
    source: str
    modules_dir: str | None = None
    initrd: str | None = None


class KernelFetch(_Request):
    distro: Literal["debian"] = "debian"
    name: str | None = Field(default=None, pattern=_NAME)


class ImageRegister(_Request):
    name: str = Field(pattern=_NAME)
    rootfs: str
    kernel_ref: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    modules: str | None = None
    work_seed: str | None = None


class ImageBootstrap(_Request):
    distro: Literal["debian"] = "debian"
    name: str = Field(pattern=_NAME)
    kernel_ref: str | None = None
    suite: str = Field(default="bookworm", pattern=r"^[a-z]{2,20}$")
    free_mib: int | None = Field(default=None, ge=16)
    packages: list[str] = Field(default_factory=list)


class ImagePull(_Request):
    ref: str = Field(min_length=1, max_length=512)
    kernel_ref: str | None = None
    name: str | None = Field(default=None, pattern=_NAME)
    platform: str = Field(default="linux/amd64", pattern=r"^linux/(amd64|arm64)(/v[0-9])?$")
    size_mib: int | None = Field(default=None, ge=16)
    free_mib: int | None = Field(default=None, ge=0)
    insecure: bool = False
    docker_config: str | None = None


class VMCreate(_Request):
    name: str | None = Field(default=None, pattern=_NAME)
    image: str | None = None
    cpus: int | None = Field(default=None, ge=1, le=64)
    memory_mib: int | None = Field(default=None, ge=64, le=1_048_576)
    disk_size_mib: int | None = Field(default=None, ge=64)
    backend: Literal["qemu", "firecracker"] | None = None
    start: bool = True
    wait: bool = False
    ssh_public_key: str | None = Field(default=None, max_length=16384)
