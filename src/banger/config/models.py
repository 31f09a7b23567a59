"""Typed configuration: the daemon's /etc/banger/config.toml (the user's is config.user)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Network
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from banger.config.user import DEFAULT_SOCKET
from banger.errors import InvalidArgument
from banger.network.config import check_interface_name, check_nft_table_name, check_subnet

T = TypeVar("T")

DEFAULT_DAEMON_CONFIG = Path("/etc/banger/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/banger")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute(value: Path | None) -> Path | None:
    if value is not None and not value.is_absolute():
        raise ValueError(f"must be an absolute path, got {str(value)!r}")
    return value


def _network_rule(check: Callable[[T], T], value: T) -> T:
    """Apply one of banger.network's own checks, so a config file is refused exactly when
    the network would refuse it; as a ValueError, so the loader names the key and file."""
    try:
        return check(value)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None


class NetworkSettings(_Strict):
    bridge: str = "banger0"
    subnet: IPv4Network = IPv4Network("10.77.0.0/24")
    nft_table: str = "banger"
    dns: list[str] = Field(default_factory=list)

    @field_validator("bridge")
    @classmethod
    def _bridge(cls, value: str) -> str:
        return _network_rule(partial(check_interface_name, what="bridge"), value)

    @field_validator("subnet")
    @classmethod
    def _room_for_vms(cls, value: IPv4Network) -> IPv4Network:
        return _network_rule(check_subnet, value)

    @field_validator("nft_table")
    @classmethod
    def _table(cls, value: str) -> str:
        return _network_rule(check_nft_table_name, value)


class ImageSettings(_Strict):
    free_space_mib: int = Field(default=1024, ge=16)
    debian_mirror: str | None = None


class OciSettings(_Strict):
    insecure_registries: list[str] = Field(default_factory=list)
    max_layer_entries: int = Field(default=500_000, ge=1)
    max_uncompressed_gib: int = Field(default=64, ge=1)


class BootSettings(_Strict):
    """How long a booting guest may stay silent (see docs/vmm.md, "boot watchdog")."""

    kernel_stall_seconds: float = Field(default=20, ge=1, le=3600)
    userspace_stall_seconds: float = Field(default=30, ge=0, le=3600)  # 0: no bound
    ready_timeout_seconds: float = Field(default=300, ge=5, le=86400)
    kvm_probe_seconds: float = Field(default=8, ge=1, le=120)


class LimitSettings(_Strict):
    """Ceilings on what guests, images and requests can make the daemon hold in memory or
    on disk (docs/config.md, "[limits]")."""

    # Per console log (a VM's or a builder's): past it the oldest output is dropped.
    console_log_bytes: int = Field(default=8 << 20, ge=64 << 10, le=1 << 30)
    # Per operation: the first fifth and the last four fifths of this many lines are kept.
    operation_log_lines: int = Field(default=10_000, ge=100, le=1_000_000)
    # Any disk a request sizes (--disk-size, --size, --free), in MiB.
    max_disk_mib: int = Field(default=256 << 10, ge=64, le=16 << 20)
    max_memory_mib: int = Field(default=32 << 10, ge=64, le=1 << 20)
    max_cpus: int = Field(default=16, ge=1, le=64)
    # Any request body (FastAPI holds a JSON body whole in memory to validate it).
    max_request_bytes: int = Field(default=64 << 20, ge=1 << 20, le=1 << 30)


class DaemonConfig(_Strict):
    state_dir: Path = DEFAULT_STATE_DIR
    socket_path: Path = DEFAULT_SOCKET
    socket_group: str = Field(default="banger", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    # Members of this group act on every user's VMs, images, kernels and operations, as root
    # does; everyone else in socket_group only on their own (and use shared images/kernels).
    admin_group: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    firecracker_bin: Path | None = None
    # Firecracker under its jailer (chroot, uid/gid, cgroups): see docs/vmm.md.
    use_jailer: bool = False
    jailer_bin: Path | None = None
    jailer_uid: int | None = Field(default=None, ge=1)  # never root: the point is to drop it
    jailer_gid: int | None = Field(default=None, ge=1)
    jailer_cgroups: list[str] = Field(default_factory=list)  # "<file>=<value>"
    qemu_bin: str = "qemu-system-x86_64"
    default_backend: Literal["auto", "qemu", "firecracker"] = "auto"
    accel: Literal["auto", "kvm", "tcg"] = "auto"
    clone_strategy: Literal["auto", "reflink", "copy"] = "auto"
    default_cpus: int = Field(default=1, ge=1, le=64)
    default_memory_mib: int = Field(default=512, ge=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    operation_retention_days: int = Field(default=30, ge=0)
    network: NetworkSettings = NetworkSettings()
    images: ImageSettings = ImageSettings()
    oci: OciSettings = OciSettings()
    boot: BootSettings = BootSettings()
    limits: LimitSettings = LimitSettings()

    _abs_state = field_validator("state_dir", "socket_path", "firecracker_bin", "jailer_bin")(
        _absolute
    )

    @field_validator("jailer_cgroups")
    @classmethod
    def _cgroup_settings(cls, value: list[str]) -> list[str]:
        for setting in value:
            if "=" not in setting or "/" in setting.split("=", 1)[0]:
                raise PydanticCustomError(
                    "jailer_cgroup",
                    "'{setting}' is not <cgroup file>=<value>",
                    {"setting": setting},
                )
        return value

    @model_validator(mode="after")
    def _jailer_needs_ids(self) -> DaemonConfig:
        if self.use_jailer and (self.jailer_uid is None or self.jailer_gid is None):
            raise PydanticCustomError(
                "jailer_ids",
                "use_jailer needs jailer_uid and jailer_gid (a dedicated, non-root id)",
            )
        return self

    @field_validator("clone_strategy", mode="before")
    @classmethod
    def _no_dm_snapshot(cls, value: object) -> object:
        # Nothing activates a dm snapshot at VM start yet: a VM would boot an empty disk.
        if value == "dm-snapshot":
            raise PydanticCustomError(
                "not_supported",
                "'dm-snapshot' is not supported yet; use 'auto', 'reflink' or 'copy'",
            )
        return value
