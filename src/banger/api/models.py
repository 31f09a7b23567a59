"""The API's data models: what the daemon returns and the CLI and web UI consume.

Field names are stable: they are also the CLI's `--json` output (docs/api.md).
"""

from __future__ import annotations

import pwd
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, computed_field

from banger.errors import ERROR_CODES


def user_label(uid: int) -> str:
    """A uid as people read it: the user's name on this host, or the number if it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Owned(BaseModel):
    """An object some user created: only they (and root or an admin) may act on it.

    Each model declares `owner_uid` where it reads best: the SO_PEERCRED uid of the request
    that created it (0 for in-process requests and for records older than owners). `owner`
    is derived, never stored, so a renamed user shows under their current name.
    """

    if TYPE_CHECKING:
        owner_uid: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def owner(self) -> str:
        return user_label(self.owner_uid)


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
    """Every error the API answers, and an operation's error: `code` for programs, `message`
    (one line, naming the field or object at fault) and `hint` (how to fix it) for people."""

    # Decoded as any string (a newer daemon may add codes); documented as the known set.
    code: str = Field(json_schema_extra={"enum": list(ERROR_CODES)})
    message: str
    hint: str | None = None
    # Set for errors that carry a process status to pass on (code "step_failed").
    exit_code: int | None = None


class Progress(BaseModel):
    current: int = 0
    total: int | None = None
    unit: str = ""
    message: str = ""


class Operation(Owned):
    id: str
    kind: str
    owner_uid: int = 0
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


class Kernel(Owned):
    id: str
    name: str
    owner_uid: int = 0
    # Shared: every member may list, show and boot it; only its owner or an admin may change it.
    shared: bool = False
    version: str
    arch: str
    source: str | None = None
    # `kernel pull`: the manifest digest imported (source holds the reference), a pin
    # `image pull --kernel-ref REF@DIGEST` and a re-publish can rely on.
    digest: str | None = None
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


class ImageFiles(BaseModel):
    """An image's host files. Managed images keep them under images/<id>/ (a member's
    `image register` copies into it); only root's registrations point at host files
    (unmanaged, until promoted)."""

    rootfs: Path
    work_seed: Path | None = None  # copied into each VM's work disk
    # A kernel file of its own (register --kernel FILE), with the initrd and modules that
    # go with it; images booting a managed kernel name it in `Image.kernel` instead.
    kernel_file: Path | None = None
    initrd: Path | None = None
    modules: Path | None = None


class PullProvenance(BaseModel):
    """How `image pull` made an image: the layers it was replayed from, what was cached."""

    kind: Literal["pull"] = "pull"
    has_sshd: bool
    layers: list[str]  # layer digests, kept in the blob cache while the image exists
    config_digest: str
    downloaded_layers: int
    cached_layers: int


class BootstrapProvenance(BaseModel):
    """How `image bootstrap` made an image: the Debian suite and mirror it came from."""

    kind: Literal["bootstrap"] = "bootstrap"
    suite: str
    mirror: str
    packages: int  # how many packages were installed


class BuildProvenance(BaseModel):
    """How `image build` made an image: its base, its steps and how they ran."""

    kind: Literal["build"] = "build"
    base: str
    base_id: str
    base_digest: str | None = None  # the base's OCI manifest digest, if it was pulled
    steps: list[str]  # one summary line per step, never the whole script
    via: Literal["ssh", "console"]
    env: list[str]  # names of the variables passed (never their values)
    banger_version: str
    built_at: datetime


# Registered (and promoted) images have none: banger did not make their files.
Provenance = Annotated[
    PullProvenance | BootstrapProvenance | BuildProvenance, Field(discriminator="kind")
]


class Image(Owned):
    id: str
    name: str
    owner_uid: int = 0
    # Shared: every member may list, show, boot and build from it; only its owner or an
    # admin may change, share or delete it.
    shared: bool = False
    managed: bool
    kernel: str | None = None  # the managed kernel's name (None: files.kernel_file)
    files: ImageFiles
    size_bytes: int | None = None
    source: ImageSource
    config: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance | None = None
    created_at: datetime


class VM(Owned):
    id: str
    name: str
    owner_uid: int = 0
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
