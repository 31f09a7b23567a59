"""Image service: register, promote, bootstrap (and pull, see pull.py); list, show, delete."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from banger.api.models import Image, ImageSource, Kernel, Operation
from banger.api.requests import ImageBootstrap, ImageRegister
from banger.disks import debugfs
from banger.errors import Conflict, InvalidArgument, NotFound
from banger.guest import GuestFile, init_script
from banger.guest.render import BUSYBOX_PATH, HOST_BUSYBOX, INIT_PATH
from banger.images import bootset
from banger.images.bootstrap import bootstrap_debian
from banger.ops.manager import OperationManager, OperationReporter
from banger.store import ImageStore, KernelStore, StateLayout, VMStore

ROOTFS = "rootfs.ext4"
WORK_SEED = "work-seed.ext4"


def install_guest_hook(rootfs: Path) -> None:
    """Put banger's init hook and busybox into an image so it is ready for any VM."""
    debugfs.write_files(
        rootfs,
        [
            GuestFile(INIT_PATH, init_script(), 0o755),
            GuestFile(BUSYBOX_PATH, HOST_BUSYBOX.read_bytes(), 0o755),
        ],
    )


class ImageService:
    def __init__(
        self,
        layout: StateLayout,
        images: ImageStore,
        kernels: KernelStore,
        vms: VMStore,
        ops: OperationManager,
        free_space_mib: int,
        debian_mirror: str | None,
    ) -> None:
        self.layout, self.images, self.kernels, self.vms, self.ops = (
            layout,
            images,
            kernels,
            vms,
            ops,
        )
        self.free_bytes = free_space_mib * 2**20
        self.debian_mirror = debian_mirror

    def get(self, key: str) -> Image:
        image = self.images.get(key)
        if image is None:
            raise NotFound(f"no image named '{key}'", hint="list them: banger image list")
        return image

    def ensure_free(self, name: str) -> None:
        if self.images.get(name) is not None:
            raise Conflict(
                f"an image named '{name}' already exists",
                hint=f"pick another --name or delete it: banger image delete {name}",
            )

    def resolve_kernel(self, ref: str | None) -> Kernel:
        if ref is not None:
            kernel = self.kernels.get(ref)
            if kernel is None:
                raise NotFound(f"no kernel named '{ref}'", hint="list them: banger kernel list")
            return kernel
        kernels = self.kernels.list()
        if len(kernels) == 1:
            return kernels[0]
        raise InvalidArgument(
            "no --kernel-ref given and "
            + ("no kernel exists" if not kernels else f"{len(kernels)} kernels exist"),
            hint="fetch one (banger kernel fetch debian) or pass --kernel-ref NAME",
        )

    def register(self, req: ImageRegister) -> Image:
        self.ensure_free(req.name)
        if (req.kernel_ref is None) == (req.kernel is None):
            raise InvalidArgument(
                "give exactly one of --kernel-ref and --kernel",
                hint="--kernel-ref NAME uses a managed kernel; --kernel FILE a host file",
            )
        rootfs = Path(req.rootfs)
        bootset.validate_rootfs(rootfs)
        files: dict[str, str] = {"rootfs": str(rootfs)}
        kernel_id: str | None = None
        kernel_name: str | None = None
        if req.work_seed:
            bootset.validate_rootfs(Path(req.work_seed))
            files["work_seed"] = req.work_seed
        if req.kernel_ref is not None:
            kernel = self.resolve_kernel(req.kernel_ref)
            kernel_id, kernel_name = kernel.id, kernel.name
            if req.initrd or req.modules:
                raise InvalidArgument(
                    "--initrd/--modules go with --kernel FILE, not --kernel-ref",
                    hint="the managed kernel brings its own initrd and modules",
                )
        else:
            bootset.validate_kernel_file(Path(req.kernel))  # type: ignore[arg-type]
            files["kernel"] = str(req.kernel)
            if req.initrd:
                bootset.validate_initrd(Path(req.initrd))
                files["initrd"] = req.initrd
            if req.modules:
                bootset.validate_modules_dir(Path(req.modules))
                files["modules"] = req.modules
                if not req.initrd:
                    raise InvalidArgument(
                        "--modules without --initrd cannot boot: nothing loads them",
                        hint="import the kernel with `banger kernel import FILE "
                        "--modules DIR` (it builds an initrd), then use --kernel-ref",
                    )
        image = Image(
            id=secrets.token_hex(8),
            name=req.name,
            managed=False,
            kernel=kernel_name,
            files=files,
            size_bytes=rootfs.stat().st_size,
            source=ImageSource(kind="register", ref=str(rootfs)),
            created_at=datetime.now(UTC),
        )
        self.images.insert(image, keys={"kernel_id": kernel_id})
        return image

    def start_promote(self, key: str) -> Operation:
        image = self.get(key)
        if image.managed:
            raise Conflict(f"image '{image.name}' is already managed", hint="nothing to do")

        def work(reporter: OperationReporter) -> dict[str, Any]:
            names = {
                "rootfs": ROOTFS,
                "work_seed": WORK_SEED,
                "kernel": "kernel",
                "initrd": "initrd.img",
            }
            sources = {names[k]: Path(v) for k, v in image.files.items() if k in names}
            dest = self.layout.image_dir(image.id)
            copied = bootset.promote(sources, dest, reporter)
            files = dict(image.files)
            for key_name, file_name in names.items():
                if key_name in files:
                    files[key_name] = str(copied[file_name])
            promoted = image.model_copy(update={"managed": True, "files": files})
            try:
                self.images.update(promoted)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            return promoted.model_dump(mode="json")

        return self.ops.start("image.promote", image.name, work)

    def create_managed(
        self,
        kind: str,
        name: str,
        kernel: Kernel,
        reporter: OperationReporter,
        build: Callable[[Path, OperationReporter], tuple[ImageSource, dict[str, Any]]],
    ) -> dict[str, Any]:
        """Build an image into a staging dir, then move it into place and record it."""
        image_id = secrets.token_hex(8)
        staging = self.layout.tmp / f"image-{image_id}"
        dest = self.layout.image_dir(image_id)
        staging.mkdir(parents=True)
        try:
            source, extra = build(staging, reporter)
            reporter.stage("finalize")
            rootfs = staging / ROOTFS
            install_guest_hook(rootfs)
            staging.rename(dest)
            image = Image(
                id=image_id,
                name=name,
                managed=True,
                kernel=kernel.name,
                files={"rootfs": str(dest / ROOTFS)},
                size_bytes=(dest / ROOTFS).stat().st_size,
                source=source,
                created_at=datetime.now(UTC),
                **extra,
            )
            self.images.insert(image, keys={"kernel_id": kernel.id})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(dest, ignore_errors=True)
            raise
        reporter.log(f"image {name} ready ({image.size_bytes} bytes)")
        return image.model_dump(mode="json")

    def start_bootstrap(self, req: ImageBootstrap) -> Operation:
        self.ensure_free(req.name)
        kernel = self.resolve_kernel(req.kernel_ref)
        free = req.free_mib * 2**20 if req.free_mib else self.free_bytes

        def build(staging: Path, reporter: OperationReporter) -> tuple[ImageSource, dict[str, Any]]:
            result = bootstrap_debian(
                staging / ROOTFS,
                suite=req.suite,
                mirror=self.debian_mirror,
                extra_packages=req.packages,
                free_bytes=free,
                reporter=reporter,
                workdir=staging / "work",
            )
            shutil.rmtree(staging / "work", ignore_errors=True)
            provenance = {
                "suite": result.suite,
                "mirror": result.mirror,
                "packages": len(result.packages),
            }
            return ImageSource(kind="bootstrap", ref=f"debian:{result.suite}"), {
                "provenance": provenance
            }

        return self.ops.start(
            "image.bootstrap",
            req.name,
            lambda r: self.create_managed("image.bootstrap", req.name, kernel, r, build),
        )

    def delete(self, key: str) -> Image:
        image = self.get(key)
        users = self.vms.names_using_image(image.id)
        if users:
            raise Conflict(
                f"image '{image.name}' is used by VM(s): {', '.join(users)}",
                hint="delete those VMs first",
            )
        self.images.delete(image.id)
        if image.managed:
            shutil.rmtree(self.layout.image_dir(image.id), ignore_errors=True)
        return image
