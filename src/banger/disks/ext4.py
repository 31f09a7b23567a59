"""ext4 image tooling: build from a tree, check, grow, shrink, identify and describe.

Everything runs the e2fsprogs tools on regular image files through banger.proc; nothing
is mounted. Builds happen in a temporary file beside the destination and are renamed into
place only after e2fsck passes, so a failed build never leaves a half-written image.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from banger import proc
from banger.disks.ext4_sizing import (
    BLOCK_SIZE,
    INODE_SIZE,
    Ext4Size,
    estimate_size,
    measure_tree,
    size_for_request,
    size_for_usage,
)
from banger.errors import BangerError, CommandFailed, InvalidArgument

__all__ = [
    "Ext4Info",
    "Ext4Size",
    "FsckResult",
    "estimate_size",
    "ext4_info",
    "fsck",
    "grow",
    "is_ext4",
    "make_ext4",
    "shrink_to_content",
]

MIB = 1024 * 1024
DEFAULT_FREE_BYTES = 512 * MIB

_SUPERBLOCK_OFFSET = 1024
_MAGIC = 0xEF53
_COMPAT_HAS_JOURNAL = 0x4
_INCOMPAT_EXTENTS = 0x40


class FsckResult(IntEnum):
    """e2fsck exit status meanings we act on (see e2fsck(8) "EXIT CODE")."""

    CLEAN = 0
    CORRECTED = 1
    CORRECTED_REBOOT = 2


@dataclass(frozen=True)
class Ext4Info:
    block_count: int
    block_size: int
    free_blocks: int
    inode_count: int
    free_inodes: int
    label: str | None
    uuid: str

    @property
    def size_bytes(self) -> int:
        return self.block_count * self.block_size

    @property
    def free_bytes(self) -> int:
        return self.free_blocks * self.block_size


def _require_image(image: Path) -> None:
    if not image.is_file():
        raise InvalidArgument(
            f"ext4 image {image} does not exist or is not a regular file",
            hint="pass the path of an existing .ext4 image file",
        )


def is_ext4(path: Path) -> bool:
    """True if `path` holds an ext4 superblock (magic 0xEF53) with a journal and extents."""
    try:
        with open(path, "rb") as f:
            f.seek(_SUPERBLOCK_OFFSET)
            sb = f.read(0x64)
    except OSError:
        return False
    if len(sb) < 0x64:
        return False
    (magic,) = struct.unpack_from("<H", sb, 0x38)
    (compat,) = struct.unpack_from("<I", sb, 0x5C)
    (incompat,) = struct.unpack_from("<I", sb, 0x60)
    return (
        magic == _MAGIC
        and bool(compat & _COMPAT_HAS_JOURNAL)
        and bool(incompat & _INCOMPAT_EXTENTS)
    )


def fsck(image: Path, *, fix: bool) -> FsckResult:
    """Force a full check; with fix=True repair what e2fsck can (-y), else only read (-n).

    Exit 0 is clean, 1/2 mean errors were corrected (only possible with fix); 4 and above
    mean errors remain or e2fsck itself failed, which raise CommandFailed.
    """
    _require_image(image)
    argv = ["e2fsck", "-f", "-y" if fix else "-n", image]
    result = proc.run(argv, check=False)
    if result.returncode in (0, 1, 2) and (fix or result.returncode == 0):
        return FsckResult(result.returncode)
    raise CommandFailed(
        result.argv,
        result.returncode,
        result.stderr or result.stdout,
        hint=f"the filesystem in {image} is damaged; run 'e2fsck -fy {image}' or rebuild it",
    )


def make_ext4(
    tree: Path,
    out: Path,
    *,
    size_bytes: int | None = None,
    free_bytes: int = DEFAULT_FREE_BYTES,
    label: str | None = None,
) -> Ext4Size:
    """Build `out` as an ext4 image holding `tree` (owners, modes, xattrs kept).

    Without `size_bytes` the image is sized from its content plus `free_bytes`. A given
    size below what the tree needs is refused before anything is written.
    """
    if label is not None and len(label.encode()) > 16:
        raise InvalidArgument(
            f"ext4 label {label!r} is longer than 16 bytes", hint="use a shorter label"
        )
    usage = measure_tree(tree)
    if size_bytes is None:
        size = size_for_usage(usage, free_bytes=free_bytes)
    else:
        size = size_for_request(usage, size_bytes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        argv: list[str | os.PathLike[str]] = [
            "mke2fs", "-q", "-F", "-t", "ext4", "-b", str(BLOCK_SIZE), "-I", str(INODE_SIZE),
            # Guests run as root, so a root-only reserve would only hide free space.
            "-m", "0",
            "-N", str(size.inodes), "-d", tree,
        ]  # fmt: skip
        if label:
            argv += ["-L", label]
        argv += [tmp, f"{size.bytes // 1024}k"]
        proc.run(argv, hint=f"check that {tree} is readable and {out.parent} has free space")
        fsck(tmp, fix=False)
        os.chmod(tmp, 0o644)  # mkstemp made it 0600
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return size


def ext4_info(path: Path) -> Ext4Info:
    """Read the superblock summary with `dumpe2fs -h`."""
    _require_image(path)
    result = proc.run(
        ["dumpe2fs", "-h", path], hint=f"{path} may not be an ext2/3/4 filesystem image"
    )
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        label = fields.get("Filesystem volume name", "<none>")
        return Ext4Info(
            block_count=int(fields["Block count"]),
            block_size=int(fields["Block size"]),
            free_blocks=int(fields["Free blocks"]),
            inode_count=int(fields["Inode count"]),
            free_inodes=int(fields["Free inodes"]),
            label=None if label == "<none>" else label,
            uuid=fields["Filesystem UUID"],
        )
    except (KeyError, ValueError) as exc:
        raise BangerError(
            f"dumpe2fs output for {path} lacks the field {exc}",
            hint="check the image with 'dumpe2fs -h' by hand",
        ) from exc


def grow(image: Path, new_size_bytes: int) -> None:
    """Grow the image file and its filesystem to `new_size_bytes` (offline)."""
    _require_image(image)
    old_size = image.stat().st_size
    new_size = new_size_bytes // BLOCK_SIZE * BLOCK_SIZE
    if new_size < old_size:
        raise InvalidArgument(
            f"cannot grow {image} to {new_size_bytes} bytes: it already has {old_size}",
            hint="pass a larger size, or use shrink_to_content to make it smaller",
        )
    # resize2fs refuses an image that was not freshly checked; check before touching it.
    fsck(image, fix=True)
    os.truncate(image, new_size)
    try:
        proc.run(["resize2fs", image], hint=f"check {image} with 'e2fsck -f'")
    except BaseException:
        # A failed offline grow leaves the old filesystem intact; drop the extra bytes.
        os.truncate(image, old_size)
        raise


def shrink_to_content(image: Path, *, free_bytes: int) -> Ext4Info:
    """Shrink the filesystem to its minimum, then grow it to leave `free_bytes` free."""
    _require_image(image)
    if free_bytes < 0:
        raise InvalidArgument(
            f"free_bytes must not be negative (got {free_bytes})", hint="pass 0 or more"
        )
    fsck(image, fix=True)
    proc.run(["resize2fs", "-M", image], hint=f"check {image} with 'e2fsck -f'")
    info = ext4_info(image)
    # resize2fs shrinks the filesystem but not the file; cut the file to match.
    os.truncate(image, info.size_bytes)
    # resize2fs -M keeps a safety margin of its own, so count what is already free; new
    # block groups bring their own metadata, so top up until the free space is there.
    for _ in range(4):
        missing = free_bytes - info.free_bytes
        if missing <= 0:
            break
        grow(image, info.size_bytes + -(-missing // BLOCK_SIZE) * BLOCK_SIZE)
        info = ext4_info(image)
    return info
