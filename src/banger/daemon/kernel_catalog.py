"""`kernel publish` and `kernel pull` (docs/kernel-catalog.md) as tracked, owned operations.

A pulled kernel belongs to whoever pulled it (Kernel.owner_uid, like an import), and its
operation too; a publish reads a kernel the caller may use. Registry credentials come only
from the caller's own docker config, read as them (daemon/docker_auth.py); without one the
registry is spoken to anonymously, never with root's.
"""

from __future__ import annotations

from typing import Any

from banger.api.models import Kernel, Operation
from banger.api.requests import KernelPublish, KernelPull
from banger.catalog import KernelSource, publish_kernel, pull_kernel, resolve_kernel_ref
from banger.daemon.docker_auth import docker_config_as
from banger.daemon.kernels import KernelService
from banger.daemon.owners import Access, Actor
from banger.daemon.pull import default_name
from banger.errors import BangerError, InvalidArgument
from banger.hostfiles import Caller
from banger.oci import parse_reference
from banger.oci.auth import DockerConfig
from banger.ops.manager import OperationReporter
from banger.ops.reporter import NullReporter, Reporter


def _source(kernel: Kernel) -> KernelSource:
    """Package and version for the artifact's config: a Debian .deb name says both."""
    origin = kernel.source or ""
    base = origin.rsplit("/", 1)[-1].removeprefix("debian:")
    if base.endswith(".deb") and base.count("_") == 2:
        package, version, _arch = base[:-4].split("_")
        return KernelSource(package=package, version=version)
    return KernelSource(package=base, version=kernel.version)


class KernelCatalog:
    def __init__(self, kernels: KernelService, insecure: list[str]) -> None:
        self.kernels, self.insecure = kernels, insecure

    def _insecure(self, ref: str, insecure: bool) -> list[str]:
        return [*self.insecure, parse_reference(ref).registry] if insecure else self.insecure

    def _mount_from(self, kernel: Kernel, ref: str) -> str | None:
        """The repository a pulled kernel came from, when it is on the target's registry."""
        if not kernel.digest or not kernel.source:
            return None
        try:
            origin = parse_reference(kernel.source)
        except BangerError:
            return None
        same = origin.registry == parse_reference(ref).registry
        return origin.repository if same else None

    def start_publish(
        self, key: str, req: KernelPublish | None, actor: Actor, caller: Caller
    ) -> Operation:
        """Only the owner (or an admin) publishes a kernel: sharing lets members boot it,
        not hand it to other registries."""
        kernel = self.kernels.find(key, actor, Access.MANAGE, "publish")
        if req is None:
            raise InvalidArgument(
                "kernel publish needs a target reference",
                hint=f"banger kernel publish {kernel.name} REGISTRY/REPOSITORY:TAG",
            )
        parse_reference(req.ref)  # a bad reference fails the request, not the operation
        kernel_dir = self.kernels.layout.kernel_dir(kernel.id)

        def work(reporter: OperationReporter) -> dict[str, Any]:
            config = docker_config_as(caller, req.docker_config) if req.docker_config else None
            published = publish_kernel(
                kernel_dir,
                req.ref,
                cache_dir=self.kernels.layout.cache,
                reporter=reporter,
                source=_source(kernel),
                mount_from=self._mount_from(kernel, req.ref),
                insecure_registries=self._insecure(req.ref, req.insecure),
                docker_config=config,
            )
            return {
                "kernel": kernel.name,
                "ref": published.ref,
                "digest": published.digest,
                "uploaded": published.uploaded,
                "mounted": published.mounted,
                "skipped": published.skipped,
            }

        return self.kernels.ops.start("kernel.publish", kernel.name, work, owner_uid=actor.uid)

    def _pull(
        self,
        ref: str,
        name: str,
        platform: str,
        insecure: list[str],
        config: DockerConfig | None,
        reporter: Reporter,
        owner_uid: int,
    ) -> Kernel:
        with self.kernels.staging() as (kernel_id, staging):
            pulled = pull_kernel(
                ref,
                self.kernels.layout.kernel_dir(kernel_id),
                name=name,
                cache_dir=self.kernels.layout.cache,
                work_dir=staging / "work",
                reporter=reporter,
                platform=platform,
                insecure_registries=insecure,
                docker_config=config,
            )
            reporter.log(
                f"{pulled.ref}@{pulled.digest} ({pulled.kind}): {pulled.downloaded_blobs} "
                f"blob(s) downloaded, {pulled.cached_blobs} from cache"
            )
            return self.kernels.record(
                kernel_id, pulled.info, pulled.ref, reporter, owner_uid, pulled.digest
            )

    def start_pull(self, req: KernelPull, actor: Actor, caller: Caller) -> Operation:
        reference = parse_reference(req.ref)
        name = req.name or default_name(reference.repository, reference.tag)
        self.kernels.scope.ensure_free(name, actor)
        insecure = self._insecure(req.ref, req.insecure)

        def work(reporter: OperationReporter) -> dict[str, Any]:
            config = docker_config_as(caller, req.docker_config) if req.docker_config else None
            kernel = self._pull(req.ref, name, req.platform, insecure, config, reporter, actor.uid)
            return kernel.model_dump(mode="json")

        return self.kernels.ops.start("kernel.pull", name, work, owner_uid=actor.uid)

    def ensure(
        self,
        ref: str,
        actor: Actor,
        caller: Caller,
        *,
        platform: str,
        insecure: bool,
        docker_config: str | None,
    ) -> Kernel:
        """`image pull --kernel-ref REF`: the kernel `actor` may use whose digest is what
        REF names now, pulled first (as theirs) when there is none."""
        hosts = self._insecure(ref, insecure)
        config = docker_config_as(caller, docker_config) if docker_config else None
        _, digest = resolve_kernel_ref(
            ref, platform=platform, insecure_registries=hosts, docker_config=config
        )
        for kernel in self.kernels.list(actor):
            if kernel.digest == digest:
                return kernel
        reference = parse_reference(ref)
        name = default_name(reference.repository, reference.tag)
        if self.kernels.kernels.get(name) is not None:
            name = f"{name[:50]}-{digest[7:19]}"
        self.kernels.scope.ensure_free(name, actor)
        return self._pull(ref, name, platform, hosts, config, NullReporter(), actor.uid)
