"""Slow shared kernel artifacts for tests, built once and cached in BANGER_TEST_CACHE.

A lock file serialises parallel test processes; results are renamed into place, so a
crashed run never leaves a half-written artifact that later runs would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import banger.kernels
from banger.kernels import download_debian_kernel, import_kernel
from banger.ops.reporter import NullReporter


def cache_dir() -> Path:
    path = Path(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    with (cache_dir() / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def debian_kernel_deb() -> Path:
    """The Debian cloud kernel .deb, downloaded with banger's own download function once."""
    target_dir = cache_dir() / "debian-kernel-deb"
    with _locked("debian-kernel-deb"):
        found = sorted(target_dir.glob("linux-image-*.deb"))
        if found:
            return found[-1]
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".deb-") as tmp:
            deb = download_debian_kernel(Path(tmp), NullReporter())
            target_dir.mkdir(exist_ok=True)
            final = target_dir / deb.name
            deb.rename(final)
            return final


def _kernels_code_digest() -> str:
    """Imports are re-done when banger.kernels changes, so the cache cannot go stale."""
    digest = hashlib.sha256()
    package = Path(banger.kernels.__file__).parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def debian_kernel(tmp_root: Path | None = None) -> Path:
    """Directory of the imported Debian kernel (vmlinux, initrd.img, kernel.json, ...).

    Cached per .deb and per version of the import code. With `tmp_root`, a private copy
    is returned there instead, for tests that modify it.
    """
    deb = debian_kernel_deb()
    dest = cache_dir() / f"debian-kernel-{deb.stem}-{_kernels_code_digest()}"
    with _locked("debian-kernel-import"):
        if not dest.is_dir():
            import_kernel(deb, dest, name="debian-cloud", reporter=NullReporter())
    if tmp_root is None:
        return dest
    copy = tmp_root / dest.name
    shutil.copytree(dest, copy, symlinks=True)
    return copy
