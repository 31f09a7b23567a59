"""Cache of *built* root filesystems: cache_dir/rootfs/<key>.ext4 plus <key>.json.

The key hashes everything the built image depends on: the manifest digest (which pins
config and layers by content), the platform, size/free settings, replay limits and
BUILDER_VERSION (bump it whenever the builder's output changes). An entry is written
only from an image that passed e2fsck, through a temp file, fsync and rename; the
ext4 is renamed into place after its .json, and lookups need both, so a crash never
leaves a half entry that is trusted. A warm pull clones the entry (reflink where the
filesystem shares extents, else a sparse copy) instead of replaying and rebuilding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from banger.disks.clone import clone_disk, reflink_supported
from banger.oci.models import PulledImage, ReplayLimits

BUILDER_VERSION = 4  # bump when build_ext4/replay would produce a different image
_KEY = re.compile(r"^[0-9a-f]{64}$")


def rootfs_key(
    manifest_digest: str,
    platform: str,
    size_bytes: int | None,
    free_bytes: int,
    limits: ReplayLimits,
) -> str:
    """The cache key of one build: sha256 over every input that shapes the ext4."""
    material = json.dumps(
        {
            "builder": BUILDER_VERSION,
            "manifest": manifest_digest,
            "platform": platform,
            "size_bytes": size_bytes,
            "free_bytes": free_bytes,
            "limits": limits.model_dump(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class RootfsEntry:
    key: str
    manifest_digest: str
    size: int  # bytes allocated on disk (the ext4 is sparse)
    last_used: float


class RootfsCache:
    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "rootfs"

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not _KEY.match(key):
            raise ValueError(f"invalid rootfs cache key {key[:80]!r}")
        return self.root / f"{key}.ext4", self.root / f"{key}.json"

    def lookup(self, key: str) -> tuple[Path, PulledImage] | None:
        """The cached ext4 and the PulledImage it was built as, or None."""
        ext4, meta = self._paths(key)
        try:
            image = PulledImage.model_validate_json(meta.read_bytes())
        except (OSError, ValueError):
            return None
        if not ext4.is_file():
            return None
        os.utime(ext4)  # records use, for pruning by age
        return ext4, image

    def clone_to(self, cached: Path, dst_tmp: Path) -> None:
        """Copy a cached ext4 to the new file dst_tmp, sharing extents where possible."""
        strategy = "reflink" if reflink_supported(dst_tmp.parent) else "copy"
        clone_disk(cached, dst_tmp, strategy)

    def store(self, key: str, built: Path, image: PulledImage) -> None:
        """Add a verified build; an entry already there (a concurrent pull) is kept."""
        ext4, meta = self._paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(6)
        ext4_tmp = self.root / f".{key}.ext4.tmp-{token}"
        meta_tmp = self.root / f".{key}.json.tmp-{token}"
        try:
            self.clone_to(built, ext4_tmp)
            with open(meta_tmp, "x") as handle:
                handle.write(image.model_dump_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(meta_tmp, meta)
            os.replace(ext4_tmp, ext4)
        finally:
            ext4_tmp.unlink(missing_ok=True)
            meta_tmp.unlink(missing_ok=True)

    def list(self) -> list[RootfsEntry]:
        entries: list[RootfsEntry] = []
        if not self.root.is_dir():
            return entries
        for meta in sorted(self.root.glob("*.json")):
            key = meta.name.removesuffix(".json")
            if not _KEY.match(key):
                continue
            found = self.lookup_stat(key)
            if found is not None:
                entries.append(found)
        return entries

    def lookup_stat(self, key: str) -> RootfsEntry | None:
        ext4, meta = self._paths(key)
        try:
            image = PulledImage.model_validate_json(meta.read_bytes())
            st = ext4.stat()
        except (OSError, ValueError):
            return None
        return RootfsEntry(key, image.manifest_digest, st.st_blocks * 512, st.st_mtime)

    def prune(self, keep_manifests: set[str]) -> int:
        """Delete entries whose manifest digest is not kept, plus stale/partial files."""
        freed = 0
        if not self.root.is_dir():
            return 0
        kept = {e.key for e in self.list() if e.manifest_digest in keep_manifests}
        for path in self.root.iterdir():
            key = path.name.split(".", 1)[0]
            if key in kept and path.name in (f"{key}.ext4", f"{key}.json"):
                continue
            if path.name.startswith(".") and _tmp_in_use(path):
                continue
            with contextlib.suppress(OSError):
                freed += path.lstat().st_blocks * 512
                path.unlink()
        return freed


def _tmp_in_use(path: Path) -> bool:
    """Temp files of a store in progress are young; only ones older than a day are stale."""
    try:
        return time.time() - path.lstat().st_mtime < 86400
    except OSError:
        return False
