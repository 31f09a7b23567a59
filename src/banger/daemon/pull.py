"""`image pull`: any OCI image into a managed, bootable image (see docs/oci-import.md)."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from banger.api.models import ImageSource, Kernel, Operation, PullProvenance
from banger.api.requests import ImagePull
from banger.daemon.docker_auth import docker_config_as
from banger.daemon.images import ROOTFS, ImageService
from banger.daemon.memory import give_back
from banger.daemon.owners import Actor
from banger.hostfiles import Caller
from banger.oci import (
    BlobEntry,
    PulledImage,
    ReplayLimits,
    cache_list,
    cache_prune,
    parse_reference,
    pull_image,
)
from banger.oci.pull import DEFAULT_RAM_DIR
from banger.ops.manager import OperationReporter

if TYPE_CHECKING:
    from banger.daemon.kernel_catalog import KernelCatalog


def default_name(repository: str, tag: str | None) -> str:
    """docker.io/library/debian:bookworm -> debian-bookworm (a valid image name)."""
    base = repository.rsplit("/", 1)[-1]
    raw = f"{base}-{tag}" if tag else base
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:63].strip("-")
    return name or "image"


class PullService:
    def __init__(
        self,
        images: ImageService,
        cache_dir: Path,
        insecure: list[str],
        limits: ReplayLimits,
        *,
        ram_dir: Path | None = DEFAULT_RAM_DIR,
    ) -> None:
        """ram_dir: where layers are replayed when they fit in RAM (None: on disk only)."""
        self.images, self.cache_dir, self.insecure, self.limits = (
            images,
            cache_dir,
            insecure,
            limits,
        )
        self.ram_dir = ram_dir
        # One pull unpacks at a time: unpacking is where a pull's memory peaks (a hostile
        # layer stays under the daemon's bound alone, not three at once). Downloads overlap.
        self.unpack_slots = threading.BoundedSemaphore(1)
        # `--kernel-ref REGISTRY/REPO:TAG`: a catalog kernel, pulled if needed (services.py).
        self.kernel_catalog: KernelCatalog | None = None

    def start_pull(self, req: ImagePull, actor: Actor, caller: Caller) -> Operation:
        ref = parse_reference(req.ref)
        name = req.name or default_name(ref.repository, ref.tag)
        self.images.ensure_free(name, actor)
        kernel = self._kernel(req, actor, caller)
        insecure = [*self.insecure, ref.registry] if req.insecure else list(self.insecure)

        def build(staging: Path, reporter: OperationReporter) -> tuple[ImageSource, dict[str, Any]]:
            # Read as the caller when the pull starts (no config: anonymous, never root's).
            docker_config = (
                docker_config_as(caller, req.docker_config) if req.docker_config else None
            )
            pulled = self._pull(
                req.ref,
                out_ext4=staging / ROOTFS,
                cache_dir=self.cache_dir,
                work_dir=staging / "work",
                reporter=reporter,
                platform=req.platform,
                size_bytes=req.size_mib * 2**20 if req.size_mib else None,
                free_bytes=(req.free_mib if req.free_mib is not None else 256) * 2**20,
                insecure_registries=insecure,
                docker_config=docker_config,
                limits=self.limits,
                ram_dir=self.ram_dir,
                unpack_slots=self.unpack_slots,
            )
            shutil.rmtree(staging / "work", ignore_errors=True)
            reporter.log(
                f"{pulled.source_ref}@{pulled.manifest_digest}: "
                f"{pulled.downloaded_layers} layer(s) downloaded, "
                f"{pulled.cached_layers} from cache"
            )
            if not pulled.has_sshd:
                reporter.log(
                    f"notice: this image has no SSH server; add one with: banger image "
                    f"build --from-image {name} --run 'apt-get update && apt-get install "
                    f"-y openssh-server' --name {name}-ssh"
                )
            source = ImageSource(
                kind="pull",
                ref=pulled.source_ref,
                digest=pulled.manifest_digest,
                platform=pulled.platform,
            )
            provenance = PullProvenance(
                has_sshd=pulled.has_sshd,
                layers=pulled.layers,
                config_digest=pulled.config_digest,
                downloaded_layers=pulled.downloaded_layers,
                cached_layers=pulled.cached_layers,
            )
            return source, {
                "config": pulled.config.model_dump(mode="json"),
                "provenance": provenance,
            }

        return self.images.start_managed("image.pull", name, kernel, build, actor.uid)

    def _kernel(self, req: ImagePull, actor: Actor, caller: Caller) -> Kernel:
        """A kernel name, or a catalog reference (a kernel name has no '/', a reference
        always does: its registry host)."""
        if req.kernel_ref is None or "/" not in req.kernel_ref or self.kernel_catalog is None:
            return self.images.resolve_kernel(req.kernel_ref, actor)
        return self.kernel_catalog.ensure(
            req.kernel_ref,
            actor,
            caller,
            platform=req.platform,
            insecure=req.insecure,
            docker_config=req.docker_config,
        )

    @staticmethod
    def _pull(ref: str, **options: Any) -> PulledImage:
        try:
            return pull_image(ref, **options)
        finally:
            give_back()  # the replayed tree's pages, before the next pull peaks

    def cache_entries(self) -> list[BlobEntry]:
        return cache_list(self.cache_dir)

    def prune(self) -> int:
        """Drop cached blobs and built rootfs that no existing image came from."""
        keep: set[str] = set()
        for image in self.images.all_images():
            if isinstance(image.provenance, PullProvenance):
                keep.update(image.provenance.layers)
            if image.source.kind == "pull" and image.source.digest:
                keep.add(image.source.digest)
        return cache_prune(self.cache_dir, keep)
