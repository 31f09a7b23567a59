"""`image register` by a member: their files copied, read AS THEM, into daemon storage.

Root registers in place: root is trusted, its image stays unmanaged (its files where root
keeps them) until promoted. A member's paths are opened, all at once and at the moment of
registration, by a child with the member's credentials (banger.hostfiles); bangerd copies
from the fds it receives into a private staging directory (0700, files 0600), validates
the copies (never the member's paths), and the caller renames it to images/<id>/. The
image is managed from birth: whatever happens to the member's files afterwards (deleted,
replaced by a symlink to /etc/shadow) changes nothing, and `image promote` has nothing
to do for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from banger.api.models import Image, ImageFiles
from banger.api.requests import ImageRegister
from banger.disks.clone import reflink_or_copy
from banger.errors import BangerError, FailedPrecondition, InvalidArgument
from banger.hostfiles import Caller, Wanted, copy_in, open_files
from banger.images import bootset
from banger.store.layout import ImageDir

MODULES = ImageDir.MODULES
MAX_MODULES_BYTES = 4 << 30
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class _File:
    field: str  # ImageFiles field
    name: str  # file name in the image directory
    what: str  # how errors name it
    validate: Callable[[Path], object]  # bootset.validate_*, run on the copy


_FILES = (
    _File("rootfs", ImageDir.ROOTFS, "rootfs", bootset.validate_rootfs),
    _File("work_seed", ImageDir.WORK_SEED, "work seed", bootset.validate_rootfs),
    _File("kernel_file", ImageDir.KERNEL, "kernel", bootset.validate_kernel_file),
    _File("initrd", ImageDir.INITRD, "initrd", bootset.validate_initrd),
)


def copy_from_fd(src_fd: int, dst: Path) -> int:
    """Copy the open regular file src_fd to the new file dst (0600): a reflink where the
    filesystem shares extents, else a sparse copy (holes stay holes). Returns its size."""
    size = os.fstat(src_fd).st_size
    out = os.open(dst, _CREATE, 0o600)
    try:
        reflink_or_copy(src_fd, out, size)
        os.fsync(out)
    finally:
        os.close(out)
    return size


def _validated(check: Callable[[Path], object], copy: Path, shown: str) -> None:
    """Validate the copy; errors name the caller's path, not the daemon's staging."""
    try:
        check(copy)
    except BangerError as err:
        raise type(err)(err.message.replace(str(copy), shown), hint=err.hint) from None


def copy_registered(caller: Caller, req: ImageRegister, staging: Path, dest: Path) -> ImageFiles:
    """Copy the files `req` names into the new directory `staging`, read as `caller`, and
    validate the copies; returns them as they will be once `staging` is renamed to `dest`.
    The caller of this removes `staging` on failure."""
    staging.mkdir(mode=0o700)
    os.chmod(staging, 0o700)
    present = [(f, getattr(req, f.field)) for f in _FILES if getattr(req, f.field)]
    fds = open_files(caller, [Wanted(Path(path), f.what) for f, path in present])
    try:
        for (spec, _), fd in zip(present, fds, strict=True):
            copy_from_fd(fd, staging / spec.name)
    finally:
        for fd in fds:
            os.close(fd)
    for spec, path in present:
        _validated(spec.validate, staging / spec.name, path)
    files = {spec.field: dest / spec.name for spec, _ in present}
    if req.modules:
        modules = Wanted(Path(req.modules), "modules directory", tree=True)
        copy_in(caller, modules, staging / MODULES, keep_modes=False, max_bytes=MAX_MODULES_BYTES)
        if not (staging / MODULES).is_dir():
            raise InvalidArgument(
                f"modules directory {req.modules} is not a directory",
                hint="pass a kernel's modules directory (lib/modules/<version>)",
            )
        _validated(bootset.validate_modules_dir, staging / MODULES, req.modules)
        files["modules"] = dest / MODULES
    return ImageFiles(**files)


def require_trusted_files(image: Image) -> None:
    """Refuse to read an unmanaged image's files unless root registered them.

    Since members' registrations are copied, only root (and the daemon's own user)
    registers in place; an unmanaged image of anyone else is one registered by an older
    banger, whose paths the member could since have pointed anywhere."""
    if image.managed or image.owner_uid in (0, os.geteuid()):
        return
    raise FailedPrecondition(
        f"image '{image.name}' points at files uid {image.owner_uid} registered in place, "
        "which banger no longer reads with its own rights",
        hint="register the files again (they are copied now) and delete this image",
    )
