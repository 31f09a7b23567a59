"""`image build`: derive a managed image by running steps inside a builder VM.

Flow (docs/image-build.md): clone the base rootfs into a private builder dir and give it
room → write the build disk (steps, files, env, runner) → boot the builder in build mode
(daemon/build_vm.py), streaming step output into the operation log → on success, check
the filesystem, shrink it to content + free space (or grow it to --size) and register it
through ImageService.create_managed (atomic rename, then the DB row). Any failure or a
cancel unwinds everything: builder VMM, tap, address, builder dir, staged image.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from banger import __version__
from banger.api.models import BuildProvenance, Image, ImageSource, Operation
from banger.api.requests import BuildStep, ImageBuild
from banger.daemon import build_ssh
from banger.daemon.boot_set import BootSet, boot_set, probe_kernel
from banger.daemon.build_vm import BUILDER_LEASE_PREFIX, BuilderPlan, run_builder
from banger.daemon.image_copy import require_trusted_files
from banger.daemon.images import ROOTFS, ImageService
from banger.daemon.owners import Actor
from banger.daemon.vm_boot import Booter
from banger.daemon.vm_disks import choose_strategy
from banger.daemon.vm_host import HostPolicy
from banger.disks import ext4
from banger.disks.clone import clone_disk
from banger.errors import BangerError, InvalidArgument, StepFailed
from banger.hostfiles import Caller, fetcher
from banger.images import bootset
from banger.images.build_console import Transcript
from banger.images.build_disk import DiskStep, make_build_disk, summarize
from banger.ops.manager import OperationReporter
from banger.store import StateLayout
from banger.store.layout import BuilderDir
from banger.vmm import Backend

MIB = 2**20
# Room the builder's root disk gets for the steps; the result is shrunk afterwards, and
# the extra bytes of a sparse file cost nothing until written.
BUILD_HEADROOM_BYTES = 4096 * MIB
MIN_BUILDER_MEMORY_MIB = 512
# One --copy source (a file or a whole directory): staged on the host, then on the build
# disk.
COPY_MAX_BYTES = 8192 * MIB


def disk_steps(steps: list[BuildStep]) -> list[DiskStep]:
    """API steps → build-disk steps. A copy source is only checked to be an absolute path
    here: the daemon never looks at it with its own rights (that would tell a member
    whether root's files exist); it is read as the caller when the build disk is made,
    the first thing the build does."""
    converted = []
    for index, step in enumerate(steps, start=1):
        src = Path(step.src) if step.src else None
        if step.kind == "copy" and (src is None or not src.is_absolute() or not src.name):
            raise InvalidArgument(
                f"copy step {index}: {step.src} is not an absolute path to a file or directory",
                hint="give an existing host path as SRC in --copy SRC:DST",
            )
        converted.append(DiskStep(step.kind, step.text, step.name, src, step.dst))
    return converted


def _tail(lines: list[str], count: int = 3) -> str:
    return " | ".join(line.strip() for line in lines[-count:] if line.strip())


def judge(transcript: Transcript, summaries: list[str]) -> None:
    """Raise the error a finished builder's transcript calls for; return if it succeeded."""
    failed = transcript.failed_step()
    if failed is not None:
        step, code = failed
        tail = _tail(list(transcript.step_tail))
        raise StepFailed(
            f"step {step} ({summaries[step - 1]}) failed with exit code {code}"
            + (f": {tail}" if tail else ""),
            exit_code=code,
            hint="see the step's output above; fix the step and build again",
        )
    if not transcript.succeeded:
        where = f"during step {transcript.current}" if transcript.current else "before the end"
        last = _tail(list(transcript.console_tail)) or "no output"
        raise BangerError(
            f"the builder VM stopped {where}: {last}",
            hint="read the operation log (banger ops show ID); the base image may not boot",
            code="build_failed",
        )


def finalize_disk(root: Path, *, size_bytes: int | None, free_bytes: int) -> int:
    """e2fsck -fy, then shrink to content + free space, or to exactly size_bytes."""
    ext4.fsck(root, fix=True)
    if size_bytes is None:
        return ext4.shrink_to_content(root, free_bytes=free_bytes).size_bytes
    info = ext4.shrink_to_content(root, free_bytes=0)
    if size_bytes < info.size_bytes:
        raise InvalidArgument(
            f"--size {size_bytes // MIB} MiB is smaller than the built content "
            f"({info.size_bytes // MIB} MiB)",
            hint="pass a larger --size, or --free SPACE to size it from the content",
        )
    if size_bytes > info.size_bytes:
        ext4.grow(root, size_bytes)
    return root.stat().st_size


@dataclass(frozen=True)
class BuildJob:
    """What `start_build` checked and decided, handed to the operation that builds."""

    req: ImageBuild
    base: Image
    steps: list[DiskStep]
    summaries: list[str]
    kvm_kernel: Path
    backend: Backend
    boot: BootSet
    via: build_ssh.Via
    caller: Caller  # whose rights copy sources are read with


def provenance(job: BuildJob) -> BuildProvenance:
    """What a built image records about how it was made."""
    return BuildProvenance(
        base=job.base.name,
        base_id=job.base.id,
        base_digest=job.base.source.digest,
        steps=job.summaries,
        via=job.via,
        env=sorted(job.req.env),
        banger_version=__version__,
        built_at=datetime.now(UTC),
    )


class BuildService:
    def __init__(
        self,
        layout: StateLayout,
        images: ImageService,
        booter: Booter,
        host: HostPolicy,
        clone_strategy: str,
        defaults: tuple[int, int],
    ) -> None:
        self.layout, self.images, self.booter, self.host = layout, images, booter, host
        self.clone_strategy = clone_strategy
        self.default_cpus, self.default_memory = defaults

    def release_interrupted(self) -> None:
        """At start-up: no build survives a restart; give back what its builder held."""
        self.booter.release_leases(BUILDER_LEASE_PREFIX)

    def start_build(self, req: ImageBuild, actor: Actor, caller: Caller) -> Operation:
        """Check everything that can be checked up front, then run `_build` as an operation."""
        base = self.images.find(req.from_image, actor)
        require_trusted_files(base)  # root reads an unmanaged base only if root registered it
        self.images.ensure_free(req.name, actor)
        # Without --kernel-ref the base boots with its own kernel, as a VM of it would.
        kernel = self.images.kernel_of(base) if req.kernel_ref is None else None
        if kernel is None:
            kernel = self.images.resolve_kernel(req.kernel_ref, actor)
        steps = disk_steps(req.steps)
        kvm_kernel = probe_kernel(base, kernel)
        backend = self.host.backend(None, kvm_kernel)
        base_rootfs = base.files.rootfs
        bootset.validate_rootfs(base_rootfs)
        job = BuildJob(
            req=req,
            base=base,
            steps=steps,
            summaries=[summarize(step) for step in steps],
            kvm_kernel=kvm_kernel,
            backend=backend,
            boot=boot_set(base, kernel, backend.name),
            via=build_ssh.choose_via(req.via, base_rootfs, base.name),
            caller=caller,
        )
        build = functools.partial(self._build, job)
        return self.images.start_managed("image.build", req.name, kernel, build, actor.uid)

    def _build(
        self, job: BuildJob, staging: Path, reporter: OperationReporter
    ) -> tuple[ImageSource, dict[str, Any]]:
        """Boot a builder on a private clone of the base, run the steps, stage the result."""
        req = job.req
        accel = self.host.accel(reporter, job.kvm_kernel)
        builder = self.layout.builder(secrets.token_hex(6))
        with contextlib.ExitStack() as undo:
            builder.path.mkdir(mode=0o700)
            undo.callback(shutil.rmtree, builder.path, ignore_errors=True)
            root = self._clone_base(job.base, builder.path, req, reporter)
            reporter.stage("build disk")
            nonce = secrets.token_hex(8)
            fetch = fetcher(job.caller, "--copy source", COPY_MAX_BYTES)
            make_build_disk(builder.build_disk, builder.path, job.steps, req.env, nonce, fetch)
            plan = BuilderPlan(
                builder_id=builder.path.name,
                builder_dir=builder.path,
                root=root,
                build_disk=builder.build_disk,
                boot=job.boot,
                cpus=req.cpus or self.default_cpus,
                memory_mib=req.memory_mib or max(self.default_memory, MIN_BUILDER_MEMORY_MIB),
                accel=accel,
                nonce=nonce,
                steps=job.summaries,
                timeout_s=req.timeout_s,
                via=job.via,
            )
            machine_id = build_ssh.save_machine_id(root) if job.via == "ssh" else None
            transcript = run_builder(plan, self.booter, job.backend, reporter)
            judge(transcript, job.summaries)
            build_ssh.restore_machine_id(root, machine_id)
            reporter.stage("finalize disk")
            free = req.free_mib * MIB if req.free_mib is not None else self.images.free_bytes
            size = req.size_mib * MIB if req.size_mib else None
            final_size = finalize_disk(root, size_bytes=size, free_bytes=free)
            reporter.log(f"root filesystem: {final_size // MIB} MiB")
            root.rename(staging / ROOTFS)
        source = ImageSource(kind="build", ref=job.base.name, digest=job.base.source.digest)
        return source, {"config": job.base.config, "provenance": provenance(job)}

    def _clone_base(
        self, base: Image, builder_dir: Path, req: ImageBuild, reporter: OperationReporter
    ) -> Path:
        """A private copy of the base rootfs with room for the steps (the base is untouched)."""
        rootfs = base.files.rootfs
        reporter.stage(f"clone {base.name}")
        root = BuilderDir(builder_dir).root_disk
        strategy = choose_strategy(self.clone_strategy, builder_dir.parent)
        clone_disk(rootfs, root, strategy, reporter=reporter)
        target = rootfs.stat().st_size + BUILD_HEADROOM_BYTES
        if req.size_mib:
            target = max(target, req.size_mib * MIB)
        ext4.grow(root, target)
        return root
