"""modules.tar.gz: a kernel's modules tree as one reproducible archive rooted at lib/modules/.

Entries are sorted, owned by 0:0, dated 0, 0644/0755, and the gzip header carries no
name or time, so the same tree always gives the same digest (and a re-publish uploads
nothing). Only directories and regular files go in: the import kept nothing else.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

from banger.ops.reporter import Reporter


def _info(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_modules_tar(modules_dir: Path, release: str, sink: BinaryIO, reporter: Reporter) -> None:
    """Write modules_dir (lib/modules/<release> of an imported kernel) as tar.gz to sink."""
    prefix = f"lib/modules/{release}"
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as packed,
        tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in ("lib", "lib/modules", prefix):
            tar.addfile(_info(name, is_dir=True))
        for current, dirs, files in os.walk(modules_dir):
            reporter.check_cancelled()
            dirs.sort()
            rel = Path(current).relative_to(modules_dir)
            for name in dirs:
                path = Path(current) / name
                if not path.is_symlink():
                    tar.addfile(_info(f"{prefix}/{(rel / name).as_posix()}", is_dir=True))
            dirs[:] = [d for d in dirs if not (Path(current) / d).is_symlink()]
            for name in sorted(files):
                path = Path(current) / name
                if path.is_symlink() or not path.is_file():
                    continue
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    tar.addfile(
                        _info(f"{prefix}/{(rel / name).as_posix()}", is_dir=False, size=size),
                        handle,
                    )
