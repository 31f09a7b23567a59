"""Shared, cached test artifact: banger's Debian default image, bootstrapped once.

The image is built by the real `bootstrap_debian` (mmdebstrap from the host's Debian
mirror, ~1 minute) and cached under BANGER_TEST_CACHE keyed by a stamp of the bootstrap
code, so editing the recipe rebuilds it and parallel test processes wait on a file lock
instead of racing. Callers must copy the returned image before modifying it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path

import banger.disks.ext4 as ext4_module
import banger.disks.ext4_sizing as sizing_module
import banger.images.bootstrap as bootstrap_module
import banger.images.customize as customize_module
from banger.disks.clone import copy_sparse
from banger.images.bootstrap import BOOTSTRAP_VERSION, bootstrap_debian
from banger.ops.reporter import NullReporter

MIB = 1024 * 1024
TEST_IMAGE_FREE_BYTES = 256 * MIB


def cache_dir() -> Path:
    path = Path(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache")) / "rootfs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bootstrap_stamp() -> str:
    """BOOTSTRAP_VERSION plus a hash of the code that shapes the image."""
    digest = hashlib.sha256()
    for module in (bootstrap_module, customize_module, ext4_module, sizing_module):
        digest.update(Path(module.__file__ or "").read_bytes())
    return f"v{BOOTSTRAP_VERSION}-{digest.hexdigest()[:12]}"


def debian_rootfs_ext4() -> Path:
    """Path of the cached bookworm image (read-only by convention: copy before writing)."""
    directory = cache_dir()
    image = directory / f"debian-bookworm-{bootstrap_stamp()}.ext4"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if image.is_file():
            os.utime(image)  # marks it in use for the stale sweep below
            return image
        # Another checkout's tests may be using an image of another stamp right now:
        # only images nobody has touched for a day are stale.
        for stale in directory.glob("debian-bookworm-*.ext4"):
            if time.time() - stale.stat().st_mtime > 86400:
                stale.unlink()
        bootstrap_debian(
            image,
            free_bytes=TEST_IMAGE_FREE_BYTES,
            reporter=NullReporter(),
            workdir=directory / "work",
        )
    return image


def private_debian_rootfs(dest: Path) -> Path:
    """A sparse copy of the cached image, taken under the cache's lock.

    Another checkout's tests may replace the cached image at any moment; a daemon that
    registers its own copy cannot lose its image mid-run.
    """
    for _ in range(3):
        image = debian_rootfs_ext4()
        with open(cache_dir() / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if image.is_file():
                copy_sparse(image, dest)
                return dest
    raise AssertionError("the cached Debian image kept disappearing")
