"""The API's data models: what the daemon returns and the CLI and web UI consume.

Field names are stable: they are also the CLI's `--json` output (docs/api.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class OperationState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES: frozenset[OperationState] = frozenset(
    {OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED}
)


class VMState(StrEnum):
    """A VM's recorded lifecycle state (the VMM process's liveness is vmm.ProcessState)."""

    CREATED = "created"  # row and directory exist; disks not yet provisioned
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def is_active(self) -> bool:
        """A VMM process may exist: it holds a tap, an address and a console."""
        return self in (VMState.STARTING, VMState.RUNNING, VMState.STOPPING)


class ErrorBody(BaseModel):
    code: str
    message: str
    hint: str | None = None
    # Set for errors that carry a process status to pass on (code "step_failed").
    exit_code: int | None = None


class Progress(BaseModel):
    current: int = 0
    total: int | None = None
    unit: str = ""
    message: str = ""


class Operation(BaseModel):
    id: str
    kind: str
    target: str | None = None
    state: OperationState
    stage: str | None = None
    progress: Progress = Field(default_factory=Progress)
    tasks: dict[str, Progress] = Field(default_factory=dict)
    error: ErrorBody | None = None
    result: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


class OperationEvent(BaseModel):
    """One line of an operation's NDJSON stream: a snapshot plus the log lines since the last."""

    operation: Operation
    log: list[str] = Field(default_factory=list)


class OperationLog(BaseModel):
    id: str
    lines: list[str]


class VersionInfo(BaseModel):
    version: str
    api: str = "v1"
    python: str
    # The daemon's own pid: `banger daemon stop` checks it against the socket's peer.
    pid: int | None = None


class DoctorCheck(BaseModel):
    name: str
    status: Literal["pass", "warn", "fail"]
    required: bool
    detail: str
    hint: str | None = None
    # What the verdict rests on, where a probe ran (e.g. the console line a guest printed).
    evidence: str | None = None


class DoctorReport(BaseModel):
    checks: list[DoctorCheck]
    ok: bool


class Kernel(BaseModel):
    id: str
    name: str
    version: str
    arch: str
    source: str | None = None
    initrd_generated: bool = False
    features: dict[str, str] = Field(default_factory=dict)
    mmio_cmdline_devices: bool = False
    files: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class ImageSource(BaseModel):
    kind: Literal["register", "bootstrap", "pull", "build", "promote"]
    ref: str | None = None
    digest: str | None = None
    platform: str | None = None


class Image(BaseModel):
    id: str
    name: str
    managed: bool
    kernel: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    size_bytes: int | None = None
    source: ImageSource
    config: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class VM(BaseModel):
    id: str
    name: str
    state: VMState
    backend: str
    image: str
    kernel: str | None = None
    ip: str | None = None
    mac: str | None = None
    tap: str | None = None
    cpus: int
    memory_mib: int
    disk_strategy: str | None = None
    disk_size_bytes: int | None = None
    work_disk: bool = False
    accel: str | None = None
    ssh_host_key: str | None = None
    authorized_keys: list[str] = Field(default_factory=list)
    pid: int | None = None
    reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.state.is_active

    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None
