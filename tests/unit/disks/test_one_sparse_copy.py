"""One sparse copy: a VM clone (clone_disk 'copy') and a boot-set promotion (promote) of
the same sparse image give the same bytes, the same holes and the same mode."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from banger.disks.clone import clone_disk
from banger.images.bootset import promote
from banger.ops.reporter import NullReporter

MIB = 1 << 20


def _data_segments(path: Path) -> list[tuple[int, int]]:
    segments: list[tuple[int, int]] = []
    with path.open("rb") as f:
        size, offset = os.fstat(f.fileno()).st_size, 0
        while offset < size:
            try:
                data = os.lseek(f.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            offset = os.lseek(f.fileno(), data, os.SEEK_HOLE)
            segments.append((data, offset))
    return segments


def test_clone_and_promote_copy_alike(tmp_path: Path) -> None:
    src = tmp_path / "root.ext4"
    with src.open("wb") as f:
        f.truncate(32 * MIB)  # ends in a hole
        f.seek(4 * MIB)
        f.write(os.urandom(MIB))
        f.seek(20 * MIB)
        f.write(b"z" * 5000)
    src.chmod(0o640)
    cloned = clone_disk(src, tmp_path / "clone.ext4", "copy").path
    promoted = promote({"rootfs.ext4": src}, tmp_path / "set", NullReporter())["rootfs.ext4"]
    for copy in (cloned, promoted):
        assert copy.read_bytes() == src.read_bytes()
        assert copy.stat().st_mode & 0o7777 == 0o640
        assert copy.stat().st_blocks * 512 < 4 * MIB  # the 27 MiB of holes stayed holes
    assert _data_segments(cloned) == _data_segments(promoted)
