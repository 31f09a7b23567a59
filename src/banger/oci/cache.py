"""The content-addressed blob cache: cache_dir/blobs/sha256/<hex>, staged in cache_dir/tmp/.

A blob is renamed into blobs/ only after its sha256 was verified while streaming, so every
file under blobs/ is trusted by name. Downloads in progress live in tmp/ and hold an
exclusive flock on their file; anything in tmp/ whose lock can be taken belongs to an
interrupted pull, is never trusted, and is deleted on the next use of the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from banger.errors import InvalidArgument
from banger.oci.models import BlobEntry
from banger.oci.reference import is_digest
from banger.oci.rootfs_cache import RootfsCache


class BlobCache:
    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir
        self.blobs = cache_dir / "blobs" / "sha256"
        self.tmp = cache_dir / "tmp"

    def prepare(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.clean_stale_tmp()

    def path_for(self, digest: str) -> Path:
        # Only a validated digest ever becomes a file name.
        if not is_digest(digest):
            raise InvalidArgument(
                f"invalid blob digest {digest[:80]!r}", hint="expected sha256:<hex>"
            )
        return self.blobs / digest.split(":", 1)[1]

    def lookup(self, digest: str) -> Path | None:
        path = self.path_for(digest)
        if not path.is_file():
            return None
        os.utime(path)  # records use, for pruning by age later
        return path

    def clean_stale_tmp(self) -> int:
        """Delete tmp files no live download holds a lock on; returns how many."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for entry in self.tmp.iterdir():
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                entry.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(fd)
        return removed

    @contextlib.contextmanager
    def staging(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A locked tmp file for one download; removed on exit unless committed (renamed away)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        path = self.tmp / f"blob-{secrets.token_hex(8)}"
        handle = open(path, "xb+")  # noqa: SIM115 - lifetime is this context
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield path, handle
        finally:
            handle.close()
            path.unlink(missing_ok=True)

    def commit(self, tmp_path: Path, digest: str) -> Path:
        final = self.path_for(digest)
        os.replace(tmp_path, final)
        return final

    def list(self) -> list[BlobEntry]:
        entries: list[BlobEntry] = []
        if not self.blobs.is_dir():
            return entries
        for path in sorted(self.blobs.iterdir()):
            digest = f"sha256:{path.name}"
            if not is_digest(digest) or not path.is_file():
                continue
            st = path.stat()
            entries.append(BlobEntry(digest=digest, size=st.st_size, last_used=st.st_mtime))
        return entries

    def prune(self, keep: set[str]) -> int:
        freed = 0
        for entry in self.list():
            if entry.digest in keep:
                continue
            self.path_for(entry.digest).unlink(missing_ok=True)
            freed += entry.size
        freed += self._prune_tmp_bytes()
        return freed

    def _prune_tmp_bytes(self) -> int:
        before = sum(p.stat().st_size for p in self.tmp.iterdir()) if self.tmp.is_dir() else 0
        self.clean_stale_tmp()
        after = sum(p.stat().st_size for p in self.tmp.iterdir()) if self.tmp.is_dir() else 0
        return before - after


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def cache_list(cache_dir: Path) -> list[BlobEntry]:
    """Every verified blob (sorted by digest), then every built rootfs (kind "rootfs")."""
    rootfs = [
        BlobEntry(
            digest=e.manifest_digest, size=e.size, last_used=e.last_used, kind="rootfs", key=e.key
        )
        for e in RootfsCache(cache_dir).list()
    ]
    return BlobCache(cache_dir).list() + rootfs


def cache_prune(cache_dir: Path, keep: set[str]) -> int:
    """Delete cached blobs whose digest is not in keep, built rootfs whose manifest digest
    is not in keep, and stale tmp files; returns bytes freed."""
    return BlobCache(cache_dir).prune(keep) + RootfsCache(cache_dir).prune(keep)
