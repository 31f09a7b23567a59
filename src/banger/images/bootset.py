"""Boot-set files: check each is what it claims to be, then promote them atomically.

A boot set is a root filesystem image plus (for kernels) a kernel file, an initrd and a
modules tree. Validation reads magic numbers only, so it is cheap enough to run on every
register. Promotion copies the files into a temp directory beside the destination,
verifies every copy by sha256, fsyncs, and renames the directory into place: readers see
either nothing or the complete set, and the sources are never modified.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from banger.disks.clone import copy_sparse, fsync_dir
from banger.disks.ext4 import is_ext4
from banger.errors import BangerError, Conflict, FailedPrecondition, InvalidArgument, NotFound
from banger.ops.reporter import Reporter

__all__ = [
    "promote",
    "validate_initrd",
    "validate_kernel_file",
    "validate_modules_dir",
    "validate_rootfs",
]

_CHUNK = 8 * 1024 * 1024

# Leading bytes of the initrd formats the kernel can unpack (usr/Kconfig, init/initramfs.c).
_INITRD_MAGIC: list[tuple[bytes, str]] = [
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x02\x21\x4c\x18", "lz4"),  # legacy frame, what the kernel's lz4 initrd support reads
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
]


# A missing file is NotFound; one that exists but is not what it must be is a
# FailedPrecondition: the host's state, not the request's form, so an API client whose
# request matches the API document gets 404/412 here, never 400.
def _read_head(path: Path, what: str, nbytes: int, fix: str) -> bytes:
    """Read the first bytes of `path`, failing with one line for each way it can be wrong."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist", hint=fix) from None
    except OSError as exc:
        raise FailedPrecondition(
            f"{what} {path} cannot be inspected: {exc.strerror}", hint=fix
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise FailedPrecondition(f"{what} {path} is not a regular file", hint=fix)
    try:
        with open(path, "rb") as f:
            return f.read(nbytes)
    except OSError as exc:
        raise FailedPrecondition(f"{what} {path} is unreadable: {exc.strerror}", hint=fix) from None


def validate_rootfs(path: Path) -> None:
    """Require an ext4 image (superblock magic, journal and extents)."""
    fix = "pass an ext4 root filesystem image (e.g. built with 'banger image build')"
    _read_head(path, "rootfs image", 1, fix)
    if not is_ext4(path):
        raise FailedPrecondition(f"rootfs image {path} is not an ext4 filesystem", hint=fix)


def validate_kernel_file(path: Path) -> str:
    """Require an uncompressed ELF vmlinux or a bzImage; return "elf" or "bzimage"."""
    fix = "pass a kernel image: an ELF vmlinux or a bzImage (e.g. /boot/vmlinuz-*)"
    head = _read_head(path, "kernel", 0x206, fix)
    if head.startswith(b"\x7fELF"):
        return "elf"
    # The x86 boot protocol puts the "HdrS" signature at offset 0x202 of a bzImage.
    if head[0x202:0x206] == b"HdrS":
        return "bzimage"
    raise FailedPrecondition(
        f"kernel {path} is neither an ELF vmlinux nor a bzImage (wrong format)", hint=fix
    )


def validate_initrd(path: Path) -> str:
    """Require a cpio archive, possibly compressed; return the detected format."""
    fix = "pass an initramfs: a newc cpio archive, optionally gzip/zstd/xz/lz4 compressed"
    head = _read_head(path, "initrd", 6, fix)
    for magic, kind in _INITRD_MAGIC:
        if head.startswith(magic):
            return kind
    raise FailedPrecondition(
        f"initrd {path} is not a cpio archive or a compressed one (wrong format)", hint=fix
    )


def validate_modules_dir(path: Path) -> Path:
    """Require a modules tree; return the directory that holds modules.dep.

    Accepted layouts: `<path>/modules.dep`, `<path>/<version>/modules.dep` and
    `<path>/lib/modules/<version>/modules.dep`, exactly one version.
    """
    fix = "pass a kernel's modules directory (lib/modules/<version>) that has modules.dep"
    if not path.exists():
        raise NotFound(f"modules directory {path} does not exist", hint=fix)
    if not path.is_dir():
        raise FailedPrecondition(f"modules directory {path} is not a directory", hint=fix)
    if not os.access(path, os.R_OK | os.X_OK):
        raise FailedPrecondition(f"modules directory {path} is unreadable", hint=fix)
    if (path / "modules.dep").is_file():
        return path
    for base in (path, path / "lib" / "modules"):
        found = sorted(p.parent for p in base.glob("*/modules.dep") if p.is_file())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            versions = ", ".join(p.name for p in found)
            raise FailedPrecondition(
                f"modules directory {path} holds several kernel versions ({versions})",
                hint="pass the directory of the one version that matches the kernel",
            )
    raise FailedPrecondition(f"modules directory {path} has no modules.dep", hint=fix)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_names(files: dict[str, Path]) -> None:
    if not files:
        raise InvalidArgument("no files to promote", hint="pass at least one file")
    for name, src in files.items():
        if not name or "/" in name or name in (".", ".."):
            raise InvalidArgument(
                f"promoted file name {name!r} is not a plain file name",
                hint="use names like 'rootfs.ext4' without slashes",
            )
        _read_head(src, "file to promote", 0, "check the source path")


def promote(files: dict[str, Path], dest_dir: Path, reporter: Reporter) -> dict[str, Path]:
    """Copy `files` (name in dest_dir -> source) into a new directory `dest_dir` atomically.

    Returns the promoted paths by name. The sources are only read. On any failure,
    including cancellation through the reporter, nothing is left at or beside dest_dir.
    """
    _check_names(files)
    if dest_dir.exists():
        raise Conflict(
            f"destination {dest_dir} already exists",
            hint="remove it first, or promote into a new directory",
        )
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    total = sum(src.stat().st_size for src in files.values())
    with contextlib.ExitStack() as undo:
        staging = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent))
        undo.callback(shutil.rmtree, staging, ignore_errors=True)
        done = 0
        for name, src in files.items():
            reporter.check_cancelled()
            reporter.log(f"copying {src} -> {dest_dir / name}")
            copy = staging / name
            copy_sparse(src, copy)
            if sha256_file(src) != sha256_file(copy):
                raise BangerError(
                    f"copy of {src} differs from the source after copying",
                    hint="the source changed while being copied, or the disk is failing; retry",
                )
            done += src.stat().st_size
            reporter.progress(done, total, unit="B", task="promote")
        reporter.check_cancelled()
        os.chmod(staging, 0o755)  # mkdtemp creates 0700
        fsync_dir(staging)
        os.rename(staging, dest_dir)
        undo.pop_all()
    fsync_dir(dest_dir.parent)
    return {name: dest_dir / name for name in files}
