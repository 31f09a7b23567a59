"""Replay layer tarballs, in order, into an ImageTree — hardened against hostile layers.

Policy per case (docs/oci-import.md has the reasoning):
- leading "/" is stripped (the path stays inside the image, as tar does); ".." anywhere
  rejects the image;
- an entry whose parent is a symlink or a non-directory rejects the image (we never
  resolve symlinks; docker-built layers never contain such paths);
- symlink targets are kept verbatim and never resolved;
- hard links must name an existing non-directory entry, literally; else rejected;
- device nodes and FIFOs are kept as inodes of the tree only; they never exist on the host;
- names containing a newline, over-long or over-deep paths, ids or device numbers out of
  range, unusable xattr names and exceeded ReplayLimits reject; mtimes are clamped.
Memory stays bounded whatever a layer declares: tarstream bounds every header before
reading it, and the names, targets and xattrs the tree keeps count against
ReplayLimits.max_metadata_bytes.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from pathlib import Path

import zstandard

from banger.errors import InvalidArgument
from banger.oci import tarheader as th
from banger.oci.layer_io import open_decompressed, write_content
from banger.oci.models import ReplayLimits
from banger.oci.prefetch import PrefetchReader
from banger.oci.tarheader import TarFormatError
from banger.oci.tarstream import TarMember, TarReader
from banger.oci.tree import ImageTree, ImageTreeError, Inode, Kind

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_MAX_NAME_BYTES = 255  # ext4 limit on one directory entry name
_MAX_SYMLINK_BYTES = 4095  # PATH_MAX - 1: what the kernel would follow at all
_MAX_XATTR_NAME_BYTES = 255  # XATTR_NAME_MAX
# What one xattr costs in memory beyond its bytes (str, bytes and dict slot): counted so
# that a pax header of 100,000 tiny xattrs weighs what it really holds.
_XATTR_OVERHEAD = 160
_MAX_ID = 2**32 - 2  # ext4 ids are 32-bit; 2^32 - 1 means "no id" to chown
# mke2fs -d stores only 32 signed bits of a time (later ones would read as 1901-1969),
# so both build routes agree only up to 2038; pre-1970 times were already clamped to 0.
MAX_MTIME = 2**31 - 1
_KINDS = {
    th.REGULAR: Kind.FILE,
    th.AREG: Kind.FILE,
    th.CONTIGUOUS: Kind.FILE,
    th.GNU_SPARSE: Kind.FILE,
    th.DIRECTORY: Kind.DIR,
    th.SYMLINK: Kind.SYMLINK,
    th.CHAR: Kind.CHAR,
    th.BLOCKDEV: Kind.BLOCK,
    th.FIFO: Kind.FIFO,
}


class RejectedLayer(InvalidArgument):
    code = "image_rejected"


class StagingFull(Exception):
    """Staged content outgrew the caller's budget for its staging place (e.g. RAM).

    Not a user-facing error: the caller retries the replay in a roomier place.
    """


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
        self.total_bytes = 0  # file sizes, holes included: what the image will hold
        self.staged_bytes = 0  # bytes actually written under content_dir
        self.metadata_bytes = 0  # names, link targets and xattrs the tree keeps in memory
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
        archive = TarReader(
            buffered,
            max_name_bytes=self.limits.max_path_length,
            max_link_bytes=max(self.limits.max_path_length, _MAX_SYMLINK_BYTES),
        )
        try:
            for member in archive:
                try:
                    self._apply_member(archive, member, index)
                except ImageTreeError as exc:
                    raise self._reject(digest, member.name, str(exc)) from None
            while buffered.read(1024 * 1024):  # the tar end marker may precede padding
                pass
        except TarFormatError as exc:
            if exc.name:
                raise self._reject(digest, exc.name, str(exc)) from None
            raise RejectedLayer(
                f"layer {digest} is not an acceptable tar stream: {exc}",
                hint="the image is corrupt, hostile or uses an unsupported layer format",
            ) from None
        except (OSError, EOFError, zstandard.ZstdError) as exc:
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
        if "\n" in name or "\r" in name or "\0" in name:
            raise self._reject(digest, name, f"{what} contains a line break or NUL")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self._reject(digest, name, f"{what} contains '..'")
        if len(parts) > self.limits.max_depth:
            raise self._reject(
                digest, name, f"{what} is deeper than {self.limits.max_depth} directories"
            )
        for part in parts:
            if len(part.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
                raise self._reject(
                    digest, name, f"a name in the {what} exceeds {_MAX_NAME_BYTES} bytes"
                )
        return parts

    def _count_metadata(self, digest: str, name: str, size: int) -> None:
        self.metadata_bytes += size
        if self.metadata_bytes + self.tree.implied_name_bytes > self.limits.max_metadata_bytes:
            raise self._reject(
                digest,
                name,
                f"names, link targets and xattrs exceed {self.limits.max_metadata_bytes} bytes",
            )

    def _apply_member(self, archive: TarReader, member: TarMember, index: int) -> None:
        digest = self.current_digest
        self.entries += 1
        # Directories implied by earlier paths are inodes in memory like any entry.
        if self.entries + self.tree.implied_dirs > self.limits.max_entries:
            raise self._reject(
                digest,
                member.name,
                f"the image has more than {self.limits.max_entries} entries "
                "(counting parent directories its paths imply)",
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
        self._count_metadata(digest, member.name, len(base))
        if member.typeflag == th.HARDLINK:
            self._hardlink(digest, member, parts, index)
            return
        kind = _KINDS.get(member.typeflag)
        if kind is None:
            raise self._reject(
                digest, member.name, f"unsupported tar entry type {member.typeflag!r}"
            )
        inode = Inode(
            kind=kind,
            mode=member.mode & 0o7777,
            uid=self._id(digest, member, "uid", member.uid),
            gid=self._id(digest, member, "gid", member.gid),
            mtime=min(max(member.mtime, 0), MAX_MTIME),
            xattrs=self._xattrs(digest, member),
        )
        if inode.kind is Kind.DIR:
            inode.children = {}
        elif inode.kind is Kind.SYMLINK:
            target = member.linkname.encode("utf-8", "surrogateescape")
            if len(target) > _MAX_SYMLINK_BYTES:
                raise self._reject(
                    digest, member.name, f"symlink target longer than {_MAX_SYMLINK_BYTES} bytes"
                )
            if not target or b"\0" in target:
                raise self._reject(digest, member.name, "symlink has an empty target or a NUL")
            self._count_metadata(digest, member.name, len(target))
            inode.target = member.linkname
        elif inode.kind in (Kind.CHAR, Kind.BLOCK):
            if not (0 <= member.devmajor < 4096 and 0 <= member.devminor < 2**20):
                raise self._reject(digest, member.name, "device number out of range")
            inode.major, inode.minor = member.devmajor, member.devminor
        elif inode.kind is Kind.FILE:
            self._stage_content(archive, member, inode, digest)
        try:
            self.tree.put(parts, inode, index)
        except ImageTreeError:
            if inode.content is not None:
                inode.content.unlink(missing_ok=True)
            raise

    def _id(self, digest: str, member: TarMember, what: str, value: int) -> int:
        if not 0 <= value <= _MAX_ID:
            raise self._reject(digest, member.name, f"{what} {value} is out of range")
        return value

    def _stage_content(
        self, archive: TarReader, member: TarMember, inode: Inode, digest: str
    ) -> None:
        # A sparse file counts at its full size (that is what the image holds and what
        # the VM reads), but only its data is staged or checked against the budget.
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
        self.staged_bytes += member.stored
        if self.staging_budget is not None and self.staged_bytes > self.staging_budget:
            raise StagingFull(self.staged_bytes)
        path = self.content_dir / str(next(self._counter))
        write_content(archive, member, path)
        inode.content, inode.size = path, member.size
        inode.stored = member.stored
        inode.segments = len(member.sparse) if member.sparse is not None else 1

    def _hardlink(self, digest: str, member: TarMember, parts: list[str], index: int) -> None:
        target_parts = self._split(digest, member.linkname, "hard link target")
        target = self.tree.lookup(target_parts)
        if target is None:
            shown = member.linkname.encode("utf-8", "surrogateescape")[:200]
            raise self._reject(
                digest,
                member.name,
                f"hard link to missing entry {shown.decode(errors='replace')!r}",
            )
        if target.kind is Kind.DIR:
            raise self._reject(digest, member.name, "hard link to a directory")
        if target_parts == parts:
            return
        self.tree.put(parts, target, index)

    def _xattrs(self, digest: str, member: TarMember) -> Mapping[str, bytes]:
        for name, value in member.xattrs.items():
            raw_name = name.encode("utf-8", "surrogateescape")
            # Printable ASCII without space, quote or backslash: the names debugfs and the
            # kernel take (user., trusted., security., system.); anything else is not real.
            if (
                not raw_name
                or len(raw_name) > _MAX_XATTR_NAME_BYTES
                or any(c < 0x21 or c > 0x7E or c in b'"\\' for c in raw_name)
            ):
                shown = raw_name[:60].decode("ascii", "backslashreplace")
                raise self._reject(digest, member.name, f"xattr with an unusable name {shown!r}")
            if len(value) > self.limits.max_xattr_bytes:
                raise self._reject(
                    digest,
                    member.name,
                    f"xattr {name} larger than {self.limits.max_xattr_bytes} bytes",
                )
            self._count_metadata(digest, member.name, len(raw_name) + len(value) + _XATTR_OVERHEAD)
        return member.xattrs


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
