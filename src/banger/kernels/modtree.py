"""Copy a kernel's modules tree into the daemon's staging: files and directories only.

The source is a tree banger unpacked or copied as its caller, or (direct callers) any
tree this process may read. Whatever it is, the copy never follows a symlink out of it,
never copies anything but regular files, and leaves out the `build` and `source` links
that point into the build host's kernel sources.
"""

from __future__ import annotations

import os
from pathlib import Path

from banger.kernels.private import copy_regular, inside, make_private_dir
from banger.ops.reporter import Reporter

MODULE_LIMIT = 256 << 20  # the largest .ko of a generic kernel is a few MiB
SKIPPED_AT_TOP = ("build", "source")


def copy_modules(src: Path, target: Path, reporter: Reporter) -> None:
    """Copy lib/modules/<version> at `src` into new directory `target` (0700 / 0600)."""
    make_private_dir(target)
    for current, dirs, files in os.walk(src):
        reporter.check_cancelled()
        here = Path(current)
        rel = here.relative_to(src)
        top = rel == Path(".")
        kept = []
        for name in sorted(dirs):
            if (top and name in SKIPPED_AT_TOP) or (here / name).is_symlink():
                _skip(reporter, rel / name, "a symlink to a directory")
                continue
            make_private_dir(target / rel / name)
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = here / name
            if top and name in SKIPPED_AT_TOP:
                continue
            if path.is_symlink() and not (path.exists() and inside(src, path)):
                _skip(reporter, rel / name, "a symlink out of the modules tree")
                continue
            copy_regular(path, target / rel / name, "module file", MODULE_LIMIT)


def _skip(reporter: Reporter, rel: Path, why: str) -> None:
    if rel.name not in SKIPPED_AT_TOP:
        reporter.log(f"modules: skipped {rel}: {why}")
