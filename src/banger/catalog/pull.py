"""`kernel pull`: a catalog artifact (or a kernel container image) into an imported kernel.

Nothing from the artifact runs: its files are laid out as a kernel tree in a private
work directory (modules.tar.gz through kernels.safetar: regular files, directories and
in-tree symlinks only, no owner or mode bit kept) and handed to kernels.import_kernel,
the path every kernel takes into storage. The result appears complete at `dest` or not
at all.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from banger.catalog.container import tree_from_image
from banger.catalog.fetch import Fetcher, read_bounded, resolve
from banger.catalog.format import (
    BZIMAGE,
    CONFIG,
    INITRD,
    MAX_CONFIG_BYTES,
    MODULES,
    OCI_ARCH,
    VMLINUX,
    KernelManifest,
    is_kernel_manifest,
    parse_config,
    parse_kernel_manifest,
)
from banger.errors import InvalidArgument
from banger.kernels import import_kernel, safetar
from banger.kernels import model as kfiles
from banger.kernels.private import make_private_dir
from banger.oci.auth import DockerConfig
from banger.oci.cache import BlobCache, sha256_file
from banger.oci.manifest import Platform, parse_platform
from banger.oci.reference import parse_reference
from banger.oci.registry import connect
from banger.ops.reporter import NullReporter, Reporter


@dataclass(frozen=True)
class PulledKernel:
    info: kfiles.KernelInfo
    ref: str  # normalized, as given (tag and/or digest)
    digest: str  # the manifest imported (for an index: the platform's entry)
    kind: str  # "catalog" or "container"
    downloaded_blobs: int
    downloaded_bytes: int
    cached_blobs: int


def _link(src: Path, dst: Path) -> None:
    """dst names src's content (a hard link from the cache; a copy across filesystems)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@dataclass(frozen=True)
class _Tree:
    root: Path  # boot/vmlinu?-<release>, boot/config-<release>
    modules: Path | None
    initrd: Path | None


def _catalog_tree(
    manifest: KernelManifest, fetcher: Fetcher, wanted: Platform, work: Path, label: str
) -> _Tree:
    config_path = fetcher.get(manifest.config)
    config = parse_config(read_bounded(config_path, MAX_CONFIG_BYTES, "kernel config blob"))
    if OCI_ARCH[config.arch] != wanted.architecture:
        raise InvalidArgument(
            f"{label} is a {config.arch} kernel, not for {wanted}",
            hint="pull the reference of a kernel for this host's architecture",
        )
    blobs = {title: fetcher.get(layer.descriptor) for title, layer in manifest.layers.items()}
    root = work / "tree"
    make_private_dir(root)
    make_private_dir(root / "boot")
    release = config.release
    if BZIMAGE in blobs:
        _link(blobs[BZIMAGE], root / "boot" / f"vmlinuz-{release}")
    else:
        _link(blobs[VMLINUX], root / "boot" / f"vmlinux-{release}")
    if CONFIG in blobs:
        _link(blobs[CONFIG], root / "boot" / f"config-{release}")
    modules = None
    if MODULES in blobs:
        modules = _unpack_modules(blobs[MODULES], work / "modtree", release, label, fetcher)
    return _Tree(root, modules, blobs.get(INITRD))


def _unpack_modules(blob: Path, into: Path, release: str, label: str, fetcher: Fetcher) -> Path:
    what = f"modules.tar.gz of {label}"
    with open(blob, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
        safetar.extract(stream, into, what=what, reporter=fetcher.reporter)  # type: ignore[arg-type]
    modules = into / "lib" / "modules" / release
    if not modules.is_dir() or modules.is_symlink():
        raise InvalidArgument(
            f"{what} holds no lib/modules/{release}/", hint="the artifact is broken"
        )
    return modules


def _check_vmlinux(dest: Path, manifest: KernelManifest, label: str) -> None:
    """The vmlinux extracted from the artifact's bzImage must be the artifact's vmlinux."""
    layer = manifest.layers.get(VMLINUX)
    if layer is None or BZIMAGE not in manifest.layers:
        return
    if sha256_file(dest / kfiles.VMLINUX) != layer.descriptor.digest:
        raise InvalidArgument(
            f"the vmlinux of {label} is not the kernel its bzImage holds",
            hint="the artifact is inconsistent; it was not imported",
        )


def pull_kernel(
    ref: str,
    dest: Path,
    *,
    name: str,
    cache_dir: Path,
    work_dir: Path,
    reporter: Reporter,
    platform: str = "linux/amd64",
    insecure_registries: Sequence[str] = (),
    docker_config: DockerConfig | None = None,
) -> PulledKernel:
    """Pull ref and import it into new directory dest; work_dir (created, then removed)
    must be on dest's filesystem."""
    reference = parse_reference(ref)
    wanted = parse_platform(platform)
    cache = BlobCache(cache_dir)
    cache.prepare()
    with contextlib.ExitStack() as stack:
        make_private_dir(work_dir)
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        reporter.stage("resolve")
        client = stack.enter_context(connect(reference, insecure_registries, docker_config))
        resolved = resolve(client, reference, wanted, reporter)
        fetcher = Fetcher(client, cache, reference.repository, reporter)
        reporter.stage("download")
        manifest = None
        if is_kernel_manifest(resolved.data):
            manifest = parse_kernel_manifest(resolved.data)
            tree = _catalog_tree(manifest, fetcher, wanted, work_dir, str(reference))
        else:
            found = tree_from_image(resolved.data, fetcher, work_dir, str(reference))
            tree = _Tree(found.root, found.modules, None)
        reporter.check_cancelled()
        info = import_kernel(
            tree.root,
            dest,
            name=name,
            modules_dir=tree.modules,
            initrd=tree.initrd,
            reporter=reporter,
            work_dir=work_dir / "build",
            label=str(reference),
        )
        if manifest is not None:
            try:
                _check_vmlinux(dest, manifest, str(reference))
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
    return PulledKernel(
        info=info,
        ref=str(reference),
        digest=resolved.digest,
        kind="catalog" if manifest is not None else "container",
        downloaded_blobs=fetcher.downloaded_blobs,
        downloaded_bytes=fetcher.downloaded_bytes,
        cached_blobs=fetcher.cached_blobs,
    )


def resolve_kernel_ref(
    ref: str,
    *,
    platform: str = "linux/amd64",
    insecure_registries: Sequence[str] = (),
    docker_config: DockerConfig | None = None,
) -> tuple[str, str]:
    """(normalized ref, manifest digest) ref names now, for platform: whether a kernel
    pulled before is still what ref points at."""
    reference = parse_reference(ref)
    with connect(reference, insecure_registries, docker_config) as client:
        resolved = resolve(client, reference, parse_platform(platform), NullReporter())
    return str(reference), resolved.digest
