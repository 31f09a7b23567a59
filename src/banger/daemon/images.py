"""Image service: register, promote, bootstrap (and pull, see pull.py); list, show, share,
delete. Requests name images and kernels through `Scoped` lookups (owner checks)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from banger.api.models import (
    BootstrapProvenance,
    Image,
    ImageFiles,
    ImageSource,
    Kernel,
    Operation,
)
from banger.api.requests import ImageBootstrap, ImageRegister
from banger.daemon.image_copy import copy_registered
from banger.daemon.owners import Access, Actor
from banger.daemon.scoped import Scoped, in_use
from banger.disks import debugfs
from banger.errors import Conflict, InvalidArgument
from banger.guest import GuestFile, init_script
from banger.guest.render import BUSYBOX_PATH, HOST_BUSYBOX, INIT_PATH
from banger.hostfiles import Caller
from banger.images import bootset
from banger.images.bootstrap import bootstrap_debian
from banger.ops.manager import OperationManager, OperationReporter
from banger.store import ImageStore, KernelStore, StateLayout, VMStore
from banger.store.layout import ImageDir

ROOTFS = ImageDir.ROOTFS
WORK_SEED = ImageDir.WORK_SEED


def install_guest_hook(rootfs: Path) -> None:
    """Put banger's init hook and busybox into an image so it is ready for any VM."""
    debugfs.write_files(
        rootfs,
        [
            GuestFile(INIT_PATH, init_script(), 0o755),
            GuestFile(BUSYBOX_PATH, HOST_BUSYBOX.read_bytes(), 0o755),
        ],
    )


def _files_in_place(req: ImageRegister) -> ImageFiles:
    """Root's registration: its files, validated where they are. Only root's paths are
    ever recorded in place, so a VM created from an unmanaged image reads root's files."""
    bootset.validate_rootfs(Path(req.rootfs))
    if req.work_seed:
        bootset.validate_rootfs(Path(req.work_seed))
    if req.kernel_file:
        bootset.validate_kernel_file(Path(req.kernel_file))
    if req.initrd:
        bootset.validate_initrd(Path(req.initrd))
    if req.modules:
        bootset.validate_modules_dir(Path(req.modules))
    return ImageFiles(
        rootfs=Path(req.rootfs),
        work_seed=Path(req.work_seed) if req.work_seed else None,
        kernel_file=Path(req.kernel_file) if req.kernel_file else None,
        initrd=Path(req.initrd) if req.initrd else None,
        modules=Path(req.modules) if req.modules else None,
    )


def seen_by(image: Image, actor: Actor) -> Image:
    """What another member sees of a shared image: a registered image's source path (the
    owner's home, their user name) shrinks to its file name."""
    if actor.admin or actor.uid == image.owner_uid or image.source.kind != "register":
        return image
    ref = PurePosixPath(image.source.ref).name if image.source.ref else None
    return image.model_copy(update={"source": image.source.model_copy(update={"ref": ref})})


def _make_private(directory: Path) -> None:
    """The daemon's alone, like imported kernels: 0700, files 0600 (mke2fs and debootstrap
    create theirs by the umask)."""
    os.chmod(directory, 0o700)
    for entry in directory.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, 0o600)


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
        self.scope = Scoped(images, "image")
        self.kernel_scope = Scoped(kernels, "kernel")

    def get(self, key: str) -> Image:
        """Whoever owns it: for the daemon's own work (requests go through `find`)."""
        image = self.images.get(key)
        if image is None:
            raise self.scope.not_found(key)
        return image

    def find(
        self, key: str, actor: Actor, access: Access = Access.USE, verb: str = "change"
    ) -> Image:
        return self.scope.find(key, actor, access, verb)

    def list(self, actor: Actor) -> list[Image]:
        return [seen_by(image, actor) for image in self.scope.visible(actor)]

    def show(self, key: str, actor: Actor) -> Image:
        return seen_by(self.find(key, actor), actor)

    def all_images(self) -> list[Image]:
        """Every image, whoever owns it: for the daemon's own bookkeeping (cache pruning)."""
        return self.images.list()

    def ensure_free(self, name: str, actor: Actor) -> None:
        self.scope.ensure_free(name, actor)

    def kernel_of(self, image: Image) -> Kernel | None:
        """The managed kernel `image` boots with, whoever owns it: whoever may use an image
        may boot its kernel (a shared image needs no shared kernel)."""
        return self.kernels.get(image.kernel) if image.kernel else None

    def resolve_kernel(self, ref: str | None, actor: Actor) -> Kernel:
        """The kernel `ref` names, or the only one `actor` may use when there is no ref."""
        if ref is not None:
            return self.kernel_scope.find(ref, actor)
        kernels = self.kernel_scope.visible(actor)
        if len(kernels) == 1:
            return kernels[0]
        raise InvalidArgument(
            "no --kernel-ref given and "
            + ("no kernel exists" if not kernels else f"{len(kernels)} kernels exist"),
            hint="fetch one (banger kernel fetch debian) or pass --kernel-ref NAME",
        )

    def register(self, req: ImageRegister, actor: Actor, caller: Caller) -> Image:
        """Root's files are registered where they are (unmanaged: root is trusted and may
        promote later); anyone else's are copied, read AS THEM at this moment, into
        images/<id>/ and the image is managed from birth (daemon/image_copy.py)."""
        self.ensure_free(req.name, actor)
        kernel_id, kernel_name = self._register_kernel(req, actor)
        image_id = secrets.token_hex(8)
        managed = caller.uid != 0
        staging = self.layout.image_staging(image_id)
        dest = self.layout.image_dir(image_id)
        try:
            if managed:
                files = copy_registered(caller, req, staging, dest)
                staging.rename(dest)
            else:
                files = _files_in_place(req)
            image = Image(
                id=image_id,
                name=req.name,
                owner_uid=actor.uid,
                managed=managed,
                kernel=kernel_name,
                files=files,
                size_bytes=files.rootfs.stat().st_size,
                source=ImageSource(kind="register", ref=req.rootfs),
                created_at=datetime.now(UTC),
            )
            self.images.insert(image, keys={"kernel_id": kernel_id})
        except BaseException:
            if managed:
                shutil.rmtree(staging, ignore_errors=True)
                shutil.rmtree(dest, ignore_errors=True)
            raise
        return image

    def _register_kernel(self, req: ImageRegister, actor: Actor) -> tuple[str | None, str | None]:
        """The managed kernel's id and name (None, None with --kernel FILE); refuses
        combinations that cannot boot."""
        if (req.kernel_ref is None) == (req.kernel_file is None):
            raise InvalidArgument(
                "give exactly one of --kernel-ref and --kernel",
                hint="--kernel-ref NAME uses a managed kernel; --kernel FILE a host file",
            )
        if req.kernel_ref is not None:
            if req.initrd or req.modules:
                raise InvalidArgument(
                    "--initrd/--modules go with --kernel FILE, not --kernel-ref",
                    hint="the managed kernel brings its own initrd and modules",
                )
            kernel = self.resolve_kernel(req.kernel_ref, actor)
            return kernel.id, kernel.name
        if req.modules and not req.initrd:
            raise InvalidArgument(
                "--modules without --initrd cannot boot: nothing loads them",
                hint="import the kernel with `banger kernel import FILE "
                "--modules DIR` (it builds an initrd), then use --kernel-ref",
            )
        return None, None

    def start_promote(self, key: str, actor: Actor) -> Operation:
        image = self.find(key, actor, Access.MANAGE, "promote")
        if image.managed:
            raise Conflict(f"image '{image.name}' is already managed", hint="nothing to do")

        def work(reporter: OperationReporter) -> dict[str, Any]:
            # The files promotion copies in (a modules directory stays where it is).
            names = {
                "rootfs": ROOTFS,
                "work_seed": WORK_SEED,
                "kernel_file": ImageDir.KERNEL,
                "initrd": ImageDir.INITRD,
            }
            present = {k: v for k, v in image.files.model_dump().items() if v and k in names}
            sources = {names[k]: path for k, path in present.items()}
            dest = self.layout.image_dir(image.id)
            copied = bootset.promote(sources, dest, reporter)
            files = image.files.model_copy(update={k: copied[names[k]] for k in present})
            promoted = image.model_copy(update={"managed": True, "files": files})
            try:
                self.images.update(promoted)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            return promoted.model_dump(mode="json")

        return self.ops.start("image.promote", image.name, work, owner_uid=actor.uid)

    def create_managed(
        self,
        kind: str,
        name: str,
        kernel: Kernel,
        reporter: OperationReporter,
        build: Callable[[Path, OperationReporter], tuple[ImageSource, dict[str, Any]]],
        owner_uid: int,
    ) -> dict[str, Any]:
        """Build an image into a staging dir, then move it into place and record it."""
        image_id = secrets.token_hex(8)
        staging = self.layout.image_staging(image_id)
        dest = self.layout.image_dir(image_id)
        staging.mkdir(parents=True)
        try:
            source, extra = build(staging, reporter)
            reporter.stage("finalize")
            rootfs = staging / ROOTFS
            install_guest_hook(rootfs)
            _make_private(staging)
            staging.rename(dest)
            image = Image(
                id=image_id,
                name=name,
                owner_uid=owner_uid,
                managed=True,
                kernel=kernel.name,
                files=ImageFiles(rootfs=dest / ROOTFS),
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

    def start_managed(
        self,
        kind: str,
        name: str,
        kernel: Kernel,
        build: Callable[[Path, OperationReporter], tuple[ImageSource, dict[str, Any]]],
        owner_uid: int,
    ) -> Operation:
        """`create_managed` as a tracked operation of `kind` (bootstrap, pull, build)."""
        return self.ops.start(
            kind,
            name,
            lambda r: self.create_managed(kind, name, kernel, r, build, owner_uid),
            owner_uid=owner_uid,
        )

    def start_bootstrap(self, req: ImageBootstrap, actor: Actor) -> Operation:
        self.ensure_free(req.name, actor)
        kernel = self.resolve_kernel(req.kernel_ref, actor)
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
            provenance = BootstrapProvenance(
                suite=result.suite, mirror=result.mirror, packages=len(result.packages)
            )
            return ImageSource(kind="bootstrap", ref=f"debian:{result.suite}"), {
                "provenance": provenance
            }

        return self.start_managed("image.bootstrap", req.name, kernel, build, actor.uid)

    def set_shared(self, key: str, actor: Actor, shared: bool) -> Image:
        """Share an image with every member (they may boot and build from it), or stop."""
        image = self.find(key, actor, Access.MANAGE, "share" if shared else "unshare")
        self.images.set_shared(image.id, shared)
        return image.model_copy(update={"shared": shared})

    def delete(self, key: str, actor: Actor) -> Image:
        image = self.find(key, actor, Access.MANAGE, "delete")
        users = self.vms.using_image(image.id)
        if users:
            raise in_use(
                f"image '{image.name}'", "VM(s)", users, actor, hint="delete those VMs first"
            )
        self.images.delete(image.id)
        if image.managed:
            shutil.rmtree(self.layout.image_dir(image.id), ignore_errors=True)
        return image
