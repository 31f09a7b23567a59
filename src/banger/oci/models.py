"""Pydantic models of what an image pull takes (limits) and returns (the pulled image)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MiB = 1024 * 1024
GiB = 1024 * MiB


class ReplayLimits(BaseModel):
    """Upper bounds on what one image may unpack to; exceeding any rejects the image."""

    max_total_bytes: int = Field(default=32 * GiB, gt=0)  # all uncompressed file data
    # Tar entries across all layers plus the parent directories their paths imply: each is
    # an inode in memory (~0.5 KiB). The same default as the daemon's max_layer_entries.
    max_entries: int = Field(default=500_000, gt=0)
    max_file_bytes: int = Field(default=8 * GiB, gt=0)  # one regular file
    max_path_length: int = Field(default=4096, gt=0)  # bytes of one entry path
    max_layers: int = Field(default=256, gt=0)
    max_xattr_bytes: int = Field(default=64 * 1024, gt=0)  # one xattr value
    # Directories above an entry. Real images stay below ~40; every walk over the tree is
    # iterative, so this bounds only mke2fs's own recursion and is checked when replaying.
    max_depth: int = Field(default=256, gt=0, le=1024)
    # Names, symlink/hard-link targets and xattrs (names + values) of all entries: what the
    # in-memory tree holds on top of its inodes. Real images need a few MiB.
    max_metadata_bytes: int = Field(default=128 * MiB, gt=0)


class ImageConfig(BaseModel):
    """The runtime parts of the OCI image config the VM may honour."""

    entrypoint: list[str] = Field(default_factory=list)
    cmd: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list)
    working_dir: str = ""
    user: str = ""


class PulledImage(BaseModel):
    source_ref: str  # normalized, e.g. docker.io/library/debian:bookworm
    manifest_digest: str
    config_digest: str
    platform: str
    size_bytes: int
    config: ImageConfig
    has_sshd: bool
    layers: list[str]
    downloaded_bytes: int = 0  # blob bytes fetched from the registry in this pull
    downloaded_layers: int = 0
    cached_layers: int = 0  # layers served from the blob cache without any download


class BlobEntry(BaseModel):
    digest: str  # the blob's digest; for a built rootfs, the image's manifest digest
    size: int  # bytes on disk
    last_used: float  # mtime of the cached file, refreshed on each cache hit
    kind: Literal["blob", "rootfs"] = "blob"
    key: str = ""  # rootfs only: the build key (manifest, platform, sizes, limits, builder)
