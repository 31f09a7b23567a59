"""`kernel publish`: an imported kernel's files as a catalog artifact in any OCI registry.

Every blob (the generated config and modules.tar.gz included) is first put into the
content-addressed blob cache `image pull` uses, then uploaded from there with the same
RegistryClient; the manifest goes last, so a failed publish never leaves a tag pointing
at missing blobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from banger import __version__
from banger.catalog.bootfile import check_boot_file
from banger.catalog.format import (
    BZIMAGE,
    CONFIG,
    CONFIG_TYPE,
    INITRD,
    LAYERS,
    MANIFEST_TYPE,
    MODULES,
    VMLINUX,
    BootFormat,
    KernelArtifactConfig,
    KernelSource,
    Layer,
    build_manifest,
)
from banger.catalog.modtar import write_modules_tar
from banger.errors import InvalidArgument
from banger.kernels import features as feat
from banger.kernels import model as kfiles
from banger.oci.auth import DockerConfig
from banger.oci.cache import BlobCache, sha256_file
from banger.oci.manifest import Descriptor
from banger.oci.reference import Reference, parse_reference
from banger.oci.registry import connect
from banger.oci.upload import put_manifest, upload_blob
from banger.ops.reporter import Reporter


@dataclass(frozen=True)
class Published:
    ref: str  # normalized, with the tag
    digest: str  # the manifest's
    uploaded: int  # blobs sent
    mounted: int  # blobs mounted from another repository of the registry (nothing sent)
    skipped: int  # blobs the repository already had


def _target(ref: str) -> Reference:
    reference = parse_reference(ref)
    if reference.digest:
        raise InvalidArgument(
            f"cannot publish to {ref}: a digest names content, not a place",
            hint="publish to a tag, e.g. registry.example:5000/kernels/debian:6.1",
        )
    return reference


def _boot_files(kernel_dir: Path, info: kfiles.KernelInfo) -> tuple[BootFormat, list[str]]:
    """The boot format and which kernel files go in, each checked by its magic bytes."""
    check_boot_file(kernel_dir / kfiles.VMLINUX, {"elf-vmlinux"}, "kernel file")
    titles = [VMLINUX]
    boot: BootFormat = "elf-vmlinux"
    if info.has_bzimage:
        boot = check_boot_file(
            kernel_dir / kfiles.BZIMAGE, {"bzImage", "arm64-Image"}, "kernel file"
        )
        titles.append(BZIMAGE)
    for title, name in ((INITRD, kfiles.INITRD), (CONFIG, kfiles.CONFIG)):
        if (kernel_dir / name).is_file():
            titles.append(title)
    return boot, titles


def _cache_blob(cache: BlobCache, write: Callable[[BinaryIO], object]) -> tuple[Path, str]:
    """Stage what `write(handle)` produces into the cache under its digest."""
    with cache.staging() as (tmp, handle):
        write(handle)
        handle.flush()
        digest = sha256_file(tmp)
        return cache.lookup(digest) or cache.commit(tmp, digest), digest


def _artifact_config(
    info: kfiles.KernelInfo, boot: BootFormat, source: KernelSource
) -> KernelArtifactConfig:
    vmms = ["qemu"]
    if info.features.get("virtio_mmio", "absent") != "absent":
        vmms.append("firecracker")  # Firecracker's devices are virtio-mmio only
    return KernelArtifactConfig(
        release=info.version,
        arch=info.arch,
        boot_format=boot,
        vmms=vmms,
        features=dict(info.features),
        mmio_cmdline_devices=info.mmio_cmdline_devices,
        needs_modules=bool(feat.modules_needed_at_boot(info.features)),
        needs_initrd=info.has_initrd,
        initrd_modules=info.initrd_modules,
        source=source,
        banger_version=__version__,
    )


def publish_kernel(
    kernel_dir: Path,
    ref: str,
    *,
    cache_dir: Path,
    reporter: Reporter,
    source: KernelSource | None = None,
    mount_from: str | None = None,
    insecure_registries: Sequence[str] = (),
    docker_config: DockerConfig | None = None,
) -> Published:
    """Push the kernel imported in kernel_dir to ref (a tag); returns the manifest digest.
    mount_from: a repository of the same registry that may hold the blobs already."""
    reference = _target(ref)
    info = kfiles.KernelInfo.model_validate_json((kernel_dir / kfiles.KERNEL_JSON).read_bytes())
    reporter.stage("check files")
    boot, titles = _boot_files(kernel_dir, info)
    cache = BlobCache(cache_dir)
    cache.prepare()
    files = {
        t: kernel_dir / n
        for t, n in (
            (VMLINUX, kfiles.VMLINUX),
            (BZIMAGE, kfiles.BZIMAGE),
            (INITRD, kfiles.INITRD),
            (CONFIG, kfiles.CONFIG),
        )
    }
    paths: dict[str, tuple[Path, str]] = {}
    modules = kernel_dir / kfiles.MODULES / info.version
    if modules.is_dir():
        reporter.stage("pack modules")
        paths[MODULES] = _cache_blob(
            cache, lambda h: write_modules_tar(modules, info.version, h, reporter)
        )
        titles.append(MODULES)
    reporter.stage("digest files")
    for title in titles:
        if title != MODULES:
            paths[title] = (files[title], sha256_file(files[title]))
    config = _artifact_config(info, boot, source or KernelSource())
    config_path, config_digest = _cache_blob(cache, lambda h: h.write(config.to_json()))
    layers = [
        Layer(t, Descriptor(LAYERS[t][0], paths[t][1], paths[t][0].stat().st_size)) for t in titles
    ]
    config_desc = Descriptor(CONFIG_TYPE, config_digest, config_path.stat().st_size)
    body = build_manifest(config_desc, layers)
    reporter.stage("upload")
    counts = {"uploaded": 0, "mounted": 0, "present": 0}
    with connect(reference, insecure_registries, docker_config) as client:
        for path, digest in [*paths.values(), (config_path, config_digest)]:
            reporter.check_cancelled()
            how = upload_blob(client, reference.repository, path, digest, mount_from=mount_from)
            reporter.log(f"{digest[:19]}: {how}")
            counts[how] += 1
        digest = put_manifest(
            client, reference.repository, reference.reference, body, MANIFEST_TYPE
        )
    reporter.log(f"published {reference} as {digest}")
    return Published(
        ref=str(reference),
        digest=digest,
        uploaded=counts["uploaded"],
        mounted=counts["mounted"],
        skipped=counts["present"],
    )
