"""`image pull`: resolve → download (cached, verified) → replay layers → build ext4, atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from banger.errors import BangerError, InvalidArgument
from banger.guest.sshd import has_sshd
from banger.oci.auth import DockerConfig
from banger.oci.blob_limits import check_layers, read_config
from banger.oci.cache import BlobCache
from banger.oci.ext4 import build_ext4, plan_size
from banger.oci.manifest import (
    Descriptor,
    Platform,
    parse_config,
    parse_manifest,
    parse_platform,
)
from banger.oci.models import ImageConfig, PulledImage, ReplayLimits
from banger.oci.reference import Reference, parse_reference
from banger.oci.registry import RegistryClient, connect
from banger.oci.replay import StagingFull, replay_layers
from banger.oci.resolve import resolve_manifest
from banger.oci.rootfs_cache import RootfsCache, rootfs_key
from banger.oci.scratch import remove_tree
from banger.oci.tree import ImageTree, Kind
from banger.ops.reporter import Reporter

MiB = 1024 * 1024
# A tmpfs on every systemd host; staging there avoids the cost of creating inodes on disk.
DEFAULT_RAM_DIR = Path("/dev/shm")
DEFAULT_RAM_BUDGET = 1024 * MiB
# The tree's kinds as debugfs names them, the vocabulary of guest.sshd.has_sshd.
_DEBUGFS_TYPES = {
    Kind.FILE: "regular",
    Kind.DIR: "directory",
    Kind.SYMLINK: "symlink",
    Kind.CHAR: "character special",
    Kind.BLOCK: "block special",
    Kind.FIFO: "FIFO",
}


class _Counters:
    def __init__(self) -> None:
        self.downloaded_bytes = 0
        self.downloaded_layers = 0
        self.cached_layers = 0

    def as_update(self) -> dict[str, int]:
        return {
            "downloaded_bytes": self.downloaded_bytes,
            "downloaded_layers": self.downloaded_layers,
            "cached_layers": self.cached_layers,
        }


def pull_image(
    ref: str,
    *,
    out_ext4: Path,
    cache_dir: Path,
    work_dir: Path,
    reporter: Reporter,
    platform: str = "linux/amd64",
    size_bytes: int | None = None,
    free_bytes: int = 256 * MiB,
    insecure_registries: Sequence[str] = (),
    docker_config: DockerConfig | None = None,
    limits: ReplayLimits | None = None,
    ram_dir: Path | None = DEFAULT_RAM_DIR,
    ram_budget: int = DEFAULT_RAM_BUDGET,
    unpack_slots: threading.Semaphore | None = None,
) -> PulledImage:
    """Pull ref from its registry and write its merged root filesystem to out_ext4.

    out_ext4 appears only complete (built next to it, then renamed); on any failure
    nothing new is left in out_ext4's directory, work_dir or ram_dir, and the cache
    holds only verified blobs and e2fsck-checked root filesystems. A build already in
    the rootfs cache (same manifest digest and settings) is cloned, not rebuilt; the
    manifest is still fetched, so a moved tag is noticed. Staging goes to ram_dir (a
    tmpfs: creating thousands of inodes there is far cheaper than on disk) while the
    image's file data stays within ram_budget, else to work_dir. unpack_slots bounds how
    many pulls unpack at once (where a pull's memory peaks).
    """
    limits = limits or ReplayLimits()
    reference = parse_reference(ref)
    wanted = parse_platform(platform)
    if free_bytes < 0:
        raise InvalidArgument("free_bytes must not be negative", hint="pass 0 or more")
    cache = BlobCache(cache_dir)
    cache.prepare()
    rootfs_cache = RootfsCache(cache_dir)
    counters = _Counters()
    work_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        out_tmp = out_ext4.parent / f".{out_ext4.name}.tmp-{secrets.token_hex(6)}"
        stack.callback(_unlink, out_tmp)

        reporter.stage("resolve")
        client = stack.enter_context(connect(reference, insecure_registries, docker_config))
        manifest_digest, config_desc, layers = _resolve(client, reference, wanted, reporter)
        check_layers(config_desc, layers, limits)  # before a byte of any blob is fetched
        reporter.check_cancelled()
        key = rootfs_key(manifest_digest, str(wanted), size_bytes, free_bytes, limits)
        hit = rootfs_cache.lookup(key)
        if hit is not None:
            reporter.stage("clone cached rootfs")
            return _clone_cached(rootfs_cache, hit, out_tmp, out_ext4, reference, len(layers))

        blobs, config, config_platform = _download(
            client, cache, reference, config_desc, layers, counters, reporter
        )
        reporter.stage("unpack layers")
        with _unpack_slot(unpack_slots, reporter):
            scratch, tree = _replay_somewhere(stack, blobs, work_dir, ram_dir, ram_budget, limits)
            reporter.check_cancelled()
            size = _build(tree, scratch, out_tmp, free_bytes, size_bytes, reporter)
            sshd = _has_sshd(tree)
            del tree  # the replayed tree's memory goes back before the next pull unpacks
        image = PulledImage(
            source_ref=str(reference),
            manifest_digest=manifest_digest,
            config_digest=config_desc.digest,
            platform=config_platform if config_platform.count("/") >= 1 else str(wanted),
            size_bytes=size,
            config=config,
            has_sshd=sshd,
            layers=[layer.digest for layer in layers],
        )
        try:
            rootfs_cache.store(key, out_tmp, image)
        except (OSError, BangerError) as exc:  # the cache only saves time; the pull stands
            reporter.log(f"could not cache the built rootfs: {exc}")
        os.replace(out_tmp, out_ext4)

    return image.model_copy(update=counters.as_update())


@contextlib.contextmanager
def _unpack_slot(slots: threading.Semaphore | None, reporter: Reporter) -> Iterator[None]:
    """Hold one of `slots` (none given: no limit), waiting cancellably for a free one."""
    if slots is None:
        yield
        return
    if not slots.acquire(blocking=False):
        reporter.log("waiting for another pull to finish unpacking")
        while not slots.acquire(timeout=0.5):
            reporter.check_cancelled()
    try:
        yield
    except BaseException as exc:
        # The failed replay's frames hold its tree until the error is dropped, long after
        # the next pull has taken the slot: free it now, or the two peaks add up.
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        slots.release()


def _clone_cached(
    rootfs_cache: RootfsCache,
    hit: tuple[Path, PulledImage],
    out_tmp: Path,
    out_ext4: Path,
    reference: Reference,
    layer_count: int,
) -> PulledImage:
    """A rootfs already built from this manifest with these settings: clone it."""
    cached_ext4, cached_image = hit
    rootfs_cache.clone_to(cached_ext4, out_tmp)
    os.replace(out_tmp, out_ext4)
    return cached_image.model_copy(
        update={
            "source_ref": str(reference),
            "downloaded_bytes": 0,
            "downloaded_layers": 0,
            "cached_layers": layer_count,
        }
    )


def _download(
    client: RegistryClient,
    cache: BlobCache,
    reference: Reference,
    config_desc: Descriptor,
    layers: list[Descriptor],
    counters: _Counters,
    reporter: Reporter,
) -> tuple[list[tuple[Path, str, str | None]], ImageConfig, str]:
    """Fetch (or find cached) the config and every layer, each digest-verified.

    Returns the layers as (path, digest, diff_id), the image's runtime config and the
    platform its config names.
    """
    reporter.stage("download")
    config_path = _fetch(client, cache, reference, config_desc, counters, reporter)
    config, diff_ids, config_platform = parse_config(read_config(config_path, config_desc.digest))
    if diff_ids and len(diff_ids) != len(layers):
        raise InvalidArgument(
            f"image config lists {len(diff_ids)} layers but the manifest {len(layers)}",
            hint="the image is inconsistent; it was not imported",
        )
    blobs: list[tuple[Path, str, str | None]] = []
    for index, layer in enumerate(layers):
        reporter.check_cancelled()
        cached_before = cache.lookup(layer.digest) is not None
        path = _fetch(client, cache, reference, layer, counters, reporter)
        if cached_before:
            counters.cached_layers += 1
        else:
            counters.downloaded_layers += 1
        blobs.append((path, layer.digest, diff_ids[index] if diff_ids else None))
    return blobs, config, config_platform


def _build(
    tree: ImageTree,
    scratch: Path,
    out_tmp: Path,
    free_bytes: int,
    size_bytes: int | None,
    reporter: Reporter,
) -> int:
    """Size the filesystem for the replayed tree and write it to out_tmp; return its size."""
    size, inode_count = plan_size(tree, free_bytes, size_bytes)
    reporter.stage("build ext4")
    reporter.log(f"building a {size // MiB} MiB ext4 with {inode_count} inodes")
    staging = scratch / "root"
    staging.mkdir()
    build_ext4(
        tree, staging=staging, scratch=scratch, out_tmp=out_tmp, size=size, inode_count=inode_count
    )
    return size


def _replay_somewhere(
    stack: contextlib.ExitStack,
    blobs: list[tuple[Path, str, str | None]],
    work_dir: Path,
    ram_dir: Path | None,
    ram_budget: int,
    limits: ReplayLimits,
) -> tuple[Path, ImageTree]:
    """Replay into a scratch dir in RAM if the content fits the budget, else in work_dir."""
    budget = _ram_budget(ram_dir, ram_budget)
    if ram_dir is not None and budget > 0:
        scratch = _scratch(stack, ram_dir)
        try:
            return scratch, _replay(blobs, scratch, limits, budget)
        except StagingFull:
            remove_tree(scratch)
    scratch = _scratch(stack, work_dir)
    return scratch, _replay(blobs, scratch, limits, None)


def _replay(
    blobs: list[tuple[Path, str, str | None]],
    scratch: Path,
    limits: ReplayLimits,
    budget: int | None,
) -> ImageTree:
    content_dir = scratch / "content"
    content_dir.mkdir()
    tree = ImageTree()
    replay_layers(tree, blobs, content_dir, limits, staging_budget=budget)
    return tree


def _scratch(stack: contextlib.ExitStack, parent: Path) -> Path:
    scratch = parent / f"oci-pull-{secrets.token_hex(6)}"
    scratch.mkdir(mode=0o700)  # private even in a shared tmpfs like /dev/shm
    stack.callback(remove_tree, scratch)
    return scratch


def _ram_budget(ram_dir: Path | None, ram_budget: int) -> int:
    """Bytes of file data to stage in ram_dir: the budget, but at most half its free space."""
    if ram_dir is None or ram_budget <= 0 or not ram_dir.is_dir():
        return 0
    try:
        st = os.statvfs(ram_dir)
    except OSError:
        return 0
    return min(ram_budget, st.f_bavail * st.f_frsize // 2)


def _resolve(
    client: RegistryClient, reference: Reference, wanted: Platform, reporter: Reporter
) -> tuple[str, Descriptor, list[Descriptor]]:
    digest, body = resolve_manifest(
        client,
        reference,
        wanted,
        reporter,
        unsupported_hint="only OCI and Docker schema 2 images are supported",
    )
    config, layers = parse_manifest(body)
    return digest, config, layers


def _fetch(
    client: RegistryClient,
    cache: BlobCache,
    reference: Reference,
    desc: Descriptor,
    counters: _Counters,
    reporter: Reporter,
) -> Path:
    cached = cache.lookup(desc.digest)
    if cached is not None:
        return cached
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        reporter.progress(done, desc.size, unit="B", task=desc.digest[:19])

    with cache.staging() as (tmp_path, handle):
        counters.downloaded_bytes += client.fetch_blob(
            reference.repository, desc.digest, handle, expected_size=desc.size, on_bytes=progress
        )
        return cache.commit(tmp_path, desc.digest)


def _has_sshd(tree: ImageTree) -> bool:
    def file_type(path: str) -> str | None:
        inode = tree.lookup(path.strip("/").split("/"))
        return None if inode is None else _DEBUGFS_TYPES[inode.kind]

    return has_sshd(file_type)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
