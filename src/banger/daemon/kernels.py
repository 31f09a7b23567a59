"""Kernel service: import and fetch as tracked operations; list, show, delete."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelFetch, KernelImport
from banger.errors import Conflict, NotFound
from banger.kernels import KernelInfo, download_debian_kernel, import_kernel
from banger.kernels import model as kfiles
from banger.ops.manager import OperationManager, OperationReporter
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

    def get(self, key: str) -> Kernel:
        kernel = self.kernels.get(key)
        if kernel is None:
            raise NotFound(f"no kernel named '{key}'", hint="list them: banger kernel list")
        return kernel

    def _ensure_free(self, name: str) -> None:
        if self.kernels.get(name) is not None:
            raise Conflict(
                f"a kernel named '{name}' already exists",
                hint=f"pick another --name or delete it: banger kernel delete {name}",
            )

    def _import(
        self,
        source: Path,
        name: str,
        modules: Path | None,
        initrd: Path | None,
        origin: str,
        reporter: OperationReporter,
    ) -> dict[str, object]:
        kernel_id = secrets.token_hex(8)
        dest = self.layout.kernel_dir(kernel_id)
        info = import_kernel(
            source, dest, name=name, modules_dir=modules, initrd=initrd, reporter=reporter
        )
        try:
            kernel = Kernel(
                id=kernel_id,
                name=name,
                version=info.version,
                arch=info.arch,
                source=origin,
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
        reporter.log(f"kernel {name}: {info.version} ({info.arch})")
        return kernel.model_dump(mode="json")

    def start_import(self, request: KernelImport) -> Operation:
        self._ensure_free(request.name)
        source = Path(request.source)
        if not source.exists():
            raise NotFound(f"kernel source {source} does not exist", hint="check the path")
        modules = Path(request.modules_dir) if request.modules_dir else None
        initrd = Path(request.initrd) if request.initrd else None
        return self.ops.start(
            "kernel.import",
            request.name,
            lambda r: self._import(source, request.name, modules, initrd, str(source), r),
        )

    def start_fetch(self, request: KernelFetch) -> Operation:
        name = request.name or request.distro
        self._ensure_free(name)

        def work(reporter: OperationReporter) -> dict[str, object]:
            with tempfile.TemporaryDirectory(dir=self.layout.tmp) as scratch:
                deb = download_debian_kernel(Path(scratch), reporter)
                return self._import(deb, name, None, None, f"debian:{deb.name}", reporter)

        return self.ops.start("kernel.fetch", name, work)

    def delete(self, key: str) -> Kernel:
        kernel = self.get(key)
        users = self.images.names_using_kernel(kernel.id)
        if users:
            raise Conflict(
                f"kernel '{kernel.name}' is used by image(s): {', '.join(users)}",
                hint="delete those images first, or register them with another kernel",
            )
        self.kernels.delete(kernel.id)
        shutil.rmtree(self.layout.kernel_dir(kernel.id), ignore_errors=True)
        return kernel
