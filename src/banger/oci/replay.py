"""Replay layer tarballs, in order, into an ImageTree — hardened against hostile layers.

Policy per case (docs/oci-import.md has the reasoning):
- leading "/" is stripped (the path stays inside the image, as tar does); ".." anywhere
  rejects the image;
- an entry whose parent is a symlink or a non-directory rejects the image (we never
  resolve symlinks; docker-built layers never contain such paths);
- symlink targets are kept verbatim and never resolved;
- hard links must name an existing non-directory entry, literally; else rejected;
- device nodes and FIFOs are kept as inodes of the tree only; they never exist on the host;
- names containing a newline, over-long paths/components and exceeded ReplayLimits reject.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

import zstandard

from banger.errors import InvalidArgument
from banger.oci.models import ReplayLimits
from banger.oci.prefetch import PrefetchReader
from banger.oci.tree import ImageTree, ImageTreeError, Inode, Kind

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_MAX_NAME_BYTES = 255  # ext4 limit on one directory entry name
_COPY_CHUNK = 1024 * 1024


class RejectedLayer(InvalidArgument):
    code = "image_rejected"


class StagingFull(Exception):
    """Staged content outgrew the caller's budget for its staging place (e.g. RAM).

    Not a user-facing error: the caller retries the replay in a roomier place.
    """


def open_decompressed(path: Path) -> BinaryIO:
    """Open a layer blob as an uncompressed stream, detecting gzip/zstd by magic bytes."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)  # type: ignore[return-value]
    return raw


class LayerReplayer:
    """Applies layers to one tree; content files go to content_dir under numbered names."""

    def __init__(
        self,
        tree: ImageTree,
        content_dir: Path,
        limits: ReplayLimits,
        staging_budget: int | None = None,
    ) -> None:
        self.tree = tree
        self.staging_budget = staging_budget
        self.content_dir = content_dir
        self.limits = limits
        self.entries = 0
        self.total_bytes = 0
        self._counter = itertools.count()
        self.current_digest = ""

    def apply(self, blob: Path, digest: str, index: int, diff_id: str | None) -> None:
        self.current_digest = digest
        if index >= self.limits.max_layers:
            raise RejectedLayer(
                f"image has more than {self.limits.max_layers} layers",
                hint="raise ReplayLimits.max_layers",
            )
        stream = open_decompressed(blob)
        reader = PrefetchReader(stream)
        buffered = io.BufferedReader(reader, 1024 * 1024)
        try:
            with tarfile.open(fileobj=buffered, mode="r|", errors="surrogateescape") as archive:
                for member in archive:
                    try:
                        self._apply_member(archive, member, index)
                    except ImageTreeError as exc:
                        raise self._reject(digest, member.name, str(exc)) from None
            while buffered.read(1024 * 1024):  # the tar end marker may precede padding
                pass
        except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError) as exc:
            raise RejectedLayer(
                f"layer {digest} is not a readable tar stream: {exc or type(exc).__name__}",
                hint="the image is corrupt or uses an unsupported layer format",
            ) from None
        finally:
            reader.close()  # stops the worker before its stream goes away
            stream.close()
        actual = "sha256:" + reader.sha.hexdigest()
        if diff_id and actual != diff_id:
            raise RejectedLayer(
                f"layer {digest} unpacks to {actual}, but the image config says {diff_id}",
                hint="the image is inconsistent or tampered with",
            )

    def _reject(self, digest: str, name: str, why: str) -> RejectedLayer:
        shown = name.encode("utf-8", "surrogateescape")[:200].decode("utf-8", "replace")
        return RejectedLayer(
            f"layer {digest} entry {shown!r}: {why}",
            hint="the image contains an unsafe or unsupported entry; it was not imported",
        )

    def _split(self, digest: str, name: str, what: str = "path") -> list[str]:
        raw = name.encode("utf-8", "surrogateescape")
        if len(raw) > self.limits.max_path_length:
            raise self._reject(
                digest, name, f"{what} longer than {self.limits.max_path_length} bytes"
            )
        if "\n" in name or "\r" in name:
            raise self._reject(digest, name, f"{what} contains a line break")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self._reject(digest, name, f"{what} contains '..'")
        for part in parts:
            if len(part.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
                raise self._reject(
                    digest, name, f"a name in the {what} exceeds {_MAX_NAME_BYTES} bytes"
                )
        return parts

    def _apply_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo, index: int) -> None:
        digest = self.current_digest
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self._reject(
                digest, member.name, f"the image has more than {self.limits.max_entries} entries"
            )
        parts = self._split(digest, member.name)
        base = parts[-1] if parts else ""
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_MARKER:
                self.tree.make_opaque(parts[:-1], index)
            elif not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):  # aufs metadata: ignore
                self.tree.parent_dir(
                    parts, index
                )  # the whited-out path must not go through a symlink
                self.tree.remove([*parts[:-1], base[len(WHITEOUT_PREFIX) :]], index)
            return
        if member.islnk():
            self._hardlink(digest, member, parts, index)
            return
        inode = Inode(
            kind=_kind_of(member, digest),
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            mtime=int(member.mtime),
            xattrs=self._xattrs(digest, member),
        )
        if inode.kind is Kind.DIR:
            inode.children = {}
        elif inode.kind is Kind.SYMLINK:
            if len(member.linkname.encode("utf-8", "surrogateescape")) > 4095:
                raise self._reject(digest, member.name, "symlink target longer than 4095 bytes")
            if not member.linkname:
                raise self._reject(digest, member.name, "symlink has an empty target")
            inode.target = member.linkname
        elif inode.kind in (Kind.CHAR, Kind.BLOCK):
            inode.major, inode.minor = member.devmajor, member.devminor
        elif inode.kind is Kind.FILE:
            self._stage_content(archive, member, inode, digest)
        try:
            self.tree.put(parts, inode, index)
        except ImageTreeError:
            if inode.content is not None:
                inode.content.unlink(missing_ok=True)
            raise

    def _stage_content(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, inode: Inode, digest: str
    ) -> None:
        if member.size > self.limits.max_file_bytes:
            raise self._reject(
                digest, member.name, f"file larger than {self.limits.max_file_bytes} bytes"
            )
        self.total_bytes += member.size
        if self.total_bytes > self.limits.max_total_bytes:
            raise self._reject(
                digest,
                member.name,
                f"image content exceeds {self.limits.max_total_bytes} bytes in total",
            )
        if self.staging_budget is not None and self.total_bytes > self.staging_budget:
            raise StagingFull(self.total_bytes)
        path = self.content_dir / str(next(self._counter))
        # Straight from the tar stream to the fd: no per-file reader objects, 1 MiB writes.
        # Sparse members need tarfile's own reader to expand their holes.
        source = archive.extractfile(member) if member.issparse() else None
        read = source.read if source is not None else archive.fileobj.read  # type: ignore[union-attr]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            remaining = member.size
            while remaining > 0:
                chunk = memoryview(read(min(remaining, _COPY_CHUNK)))
                if not chunk:
                    raise tarfile.ReadError("unexpected end of data")
                remaining -= len(chunk)
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
        finally:
            os.close(fd)
        inode.content, inode.size = path, member.size

    def _hardlink(self, digest: str, member: tarfile.TarInfo, parts: list[str], index: int) -> None:
        target_parts = self._split(digest, member.linkname, "hard link target")
        target = self.tree.lookup(target_parts)
        if target is None:
            raise self._reject(
                digest, member.name, f"hard link to missing entry {member.linkname!r}"
            )
        if target.kind is Kind.DIR:
            raise self._reject(digest, member.name, "hard link to a directory")
        if target_parts == parts:
            return
        self.tree.put(parts, target, index)

    def _xattrs(self, digest: str, member: tarfile.TarInfo) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr.") :]
            data = value.encode("utf-8", "surrogateescape")
            if len(data) > self.limits.max_xattr_bytes:
                raise self._reject(
                    digest,
                    member.name,
                    f"xattr {name} larger than {self.limits.max_xattr_bytes} bytes",
                )
            if not name or "\n" in name or '"' in name or " " in name:
                raise self._reject(digest, member.name, "xattr with an unusable name")
            found[name] = data
        return found


def _kind_of(member: tarfile.TarInfo, digest: str) -> Kind:
    if member.isreg():
        return Kind.FILE
    if member.isdir():
        return Kind.DIR
    if member.issym():
        return Kind.SYMLINK
    if member.ischr():
        return Kind.CHAR
    if member.isblk():
        return Kind.BLOCK
    if member.isfifo():
        return Kind.FIFO
    raise ImageTreeError(f"unsupported tar entry type {member.type!r}")


def replay_layers(
    tree: ImageTree,
    layers: list[tuple[Path, str, str | None]],
    content_dir: Path,
    limits: ReplayLimits,
    staging_budget: int | None = None,
) -> LayerReplayer:
    """Apply (blob path, layer digest, diff_id) in order; returns the replayer for its counters.

    Raises StagingFull once content written under content_dir exceeds staging_budget.
    """
    replayer = LayerReplayer(tree, content_dir, limits, staging_budget)
    for index, (blob, digest, diff_id) in enumerate(layers):
        replayer.apply(blob, digest, index, diff_id)
    return replayer
