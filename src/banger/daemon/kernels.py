"""Kernel service: import and fetch as tracked operations; list, show, share, delete."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelFetch, KernelImport
from banger.daemon.owners import Access, Actor
from banger.daemon.scoped import Scoped, in_use
from banger.kernels import (
    Caller,
    CallerInputs,
    KernelInfo,
    copy_as_caller,
    download_debian_kernel,
    import_kernel,
)
from banger.kernels import model as kfiles
from banger.ops.manager import OperationManager, OperationReporter
from banger.ops.reporter import Reporter
from banger.store import ImageStore, KernelStore, StateLayout


def kernel_files(directory: Path, info: KernelInfo) -> dict[str, str]:
    files = {"vmlinux": directory / kfiles.VMLINUX}
    if info.has_bzimage:
        files["bzImage"] = directory / kfiles.BZIMAGE
    if info.has_initrd:
        files["initrd"] = directory / kfiles.INITRD
    if (directory / kfiles.CONFIG).exists():
        files["config"] = directory / kfiles.CONFIG
    if (directory / kfiles.MODULES).is_dir():
        files["modules"] = directory / kfiles.MODULES
    return {k: str(v) for k, v in files.items()}


class KernelService:
    def __init__(
        self, layout: StateLayout, kernels: KernelStore, images: ImageStore, ops: OperationManager
    ) -> None:
        self.layout, self.kernels, self.images, self.ops = layout, kernels, images, ops
        self.scope = Scoped(kernels, "kernel")

    def find(
        self, key: str, actor: Actor, access: Access = Access.USE, verb: str = "change"
    ) -> Kernel:
        """The kernel `key` names as `actor` may see it (daemon/scoped.py: owner checks)."""
        return self.scope.find(key, actor, access, verb)

    def list(self, actor: Actor) -> list[Kernel]:
        return self.scope.visible(actor)

    def set_shared(self, key: str, actor: Actor, shared: bool) -> Kernel:
        """Let every member boot and build with this kernel (list, show, --kernel-ref), or stop."""
        kernel = self.find(key, actor, Access.MANAGE, "share" if shared else "unshare")
        self.kernels.set_shared(kernel.id, shared)
        return kernel.model_copy(update={"shared": shared})

    def _ensure_free(self, name: str, actor: Actor) -> None:
        self.scope.ensure_free(name, actor)

    def _import(
        self,
        kernel_id: str,
        staging: Path,
        inputs: CallerInputs,
        name: str,
        origin: str,
        reporter: OperationReporter,
        owner_uid: int,
    ) -> dict[str, object]:
        dest = self.layout.kernel_dir(kernel_id)
        info = import_kernel(
            inputs.source,
            dest,
            name=name,
            modules_dir=inputs.modules_dir,
            initrd=inputs.initrd,
            reporter=reporter,
            work_dir=staging / "build",
            label=origin,
        )
        return self.record(kernel_id, info, origin, reporter, owner_uid).model_dump(mode="json")

    def record(
        self,
        kernel_id: str,
        info: KernelInfo,
        origin: str,
        reporter: Reporter,
        owner_uid: int,
        digest: str | None = None,
    ) -> Kernel:
        """Insert the row of the kernel imported into kernels/<kernel_id>/; on failure
        the directory goes too."""
        dest = self.layout.kernel_dir(kernel_id)
        try:
            kernel = Kernel(
                id=kernel_id,
                name=info.name,
                owner_uid=owner_uid,
                version=info.version,
                arch=info.arch,
                source=origin,
                digest=digest,
                initrd_generated=info.initrd_generated,
                features=dict(info.features),
                mmio_cmdline_devices=info.mmio_cmdline_devices,
                files=kernel_files(dest, info),
                created_at=datetime.now(UTC),
            )
            self.kernels.insert(kernel)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        reporter.log(f"kernel {info.name}: {info.version} ({info.arch})")
        return kernel

    @contextlib.contextmanager
    def staging(self) -> Iterator[tuple[str, Path]]:
        """(kernel id, its private 0700 staging dir under tmp/), removed when done."""
        kernel_id = secrets.token_hex(8)
        staging = self.layout.kernel_staging(kernel_id)
        staging.mkdir(mode=0o700)
        os.chmod(staging, 0o700)
        try:
            yield kernel_id, staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def start_import(self, request: KernelImport, caller: Caller, actor: Actor) -> Operation:
        """Import host paths as `caller` would read them (never with the daemon's rights)."""
        self._ensure_free(request.name, actor)
        source = Path(request.source)
        modules = Path(request.modules_dir) if request.modules_dir else None
        initrd = Path(request.initrd) if request.initrd else None

        def work(reporter: OperationReporter) -> dict[str, object]:
            with self.staging() as (kernel_id, staging):
                reporter.stage(f"read inputs as uid {caller.uid}")
                inputs = copy_as_caller(
                    caller,
                    source=source,
                    modules_dir=modules,
                    initrd=initrd,
                    into=staging / "caller",
                    reporter=reporter,
                )
                origin = str(source)
                return self._import(
                    kernel_id, staging, inputs, request.name, origin, reporter, actor.uid
                )

        return self.ops.start("kernel.import", request.name, work, owner_uid=actor.uid)

    def start_fetch(self, request: KernelFetch, actor: Actor) -> Operation:
        name = request.name or request.distro
        self._ensure_free(name, actor)

        def work(reporter: OperationReporter) -> dict[str, object]:
            with self.staging() as (kernel_id, staging):
                deb = download_debian_kernel(staging / "download", reporter)
                inputs = CallerInputs(deb, None, None)  # the daemon's own download
                origin = f"debian:{deb.name}"
                return self._import(kernel_id, staging, inputs, name, origin, reporter, actor.uid)

        return self.ops.start("kernel.fetch", name, work, owner_uid=actor.uid)

    def delete(self, key: str, actor: Actor) -> Kernel:
        kernel = self.find(key, actor, Access.MANAGE, "delete")
        users = self.images.using_kernel(kernel.id)
        if users:
            raise in_use(
                f"kernel '{kernel.name}'",
                "image(s)",
                users,
                actor,
                hint="delete those images first, or register them with another kernel",
            )
        self.kernels.delete(kernel.id)
        shutil.rmtree(self.layout.kernel_dir(kernel.id), ignore_errors=True)
        return kernel
