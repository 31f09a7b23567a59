"""What an operation killed mid-way (daemon SIGKILL, power loss) leaves behind, removed at
daemon start, before any operation can run.

- tmp/ (builder dirs, image and kernel staging): emptied by StateLayout.ensure.
- images/.<id>.XXXX: `image promote` stages beside its destination so the final rename is
  atomic; no operation survives a restart, so every such dot-directory is a leftover.
- This daemon's RAM scratch (`/dev/shm/banger-<hash of the state dir>`, where `image pull`
  replays layers): one directory per state dir, so daemons side by side (tests) never
  remove each other's work, and a restart can remove all of it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from banger.oci.scratch import remove_tree
from banger.store import StateLayout

log = logging.getLogger("banger.daemon")
RAM_ROOT = Path("/dev/shm")


def ram_scratch_dir(state_dir: Path, ram_root: Path = RAM_ROOT) -> Path:
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return ram_root / f"banger-{digest}"


def prepare_ram_scratch(path: Path) -> Path | None:
    """Empty and recreate `path` (0700, ours), or None when that is not possible.

    /dev/shm is world-writable and the name is predictable: whatever is there (a leftover,
    or a directory or symlink someone else planted) is removed without following links,
    and the new directory is used only if it is a real directory we own, mode 0700.
    """
    if not path.parent.is_dir():
        return None
    remove_tree(path)
    try:
        path.mkdir(mode=0o700)
        st = os.lstat(path)
    except OSError as exc:
        log.warning("no RAM scratch for image pulls at %s: %s", path, exc)
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        log.warning("no RAM scratch for image pulls: %s is not a private directory", path)
        return None
    return path


def release_ram_scratch(path: Path | None) -> None:
    """At a clean stop: the scratch dir goes (a crash leaves it for the next start)."""
    if path is not None:
        remove_tree(path)


def remove_promote_staging(images_dir: Path) -> list[Path]:
    """Remove `image promote`'s staging dot-directories under images/."""
    removed: list[Path] = []
    if not images_dir.is_dir():
        return removed
    for entry in images_dir.iterdir():
        if entry.name.startswith("."):
            remove_tree(entry)
            removed.append(entry)
    return removed


def clean_at_start(layout: StateLayout, ram_dir: Path) -> Path | None:
    """Remove the leftovers outside tmp/; returns the RAM scratch dir to use (or None)."""
    for path in remove_promote_staging(layout.images):
        log.info("removed the leftover promote staging %s", path)
    return prepare_ram_scratch(ram_dir)
