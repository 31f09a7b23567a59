"""Read an ext4 image's metadata with one debugfs batch (never by mounting)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Stat:
    mode: int
    uid: int
    gid: int
    links: int
    mtime: int
    size: int
    xattrs: str
    device: tuple[int, int] | None


_HEADER = re.compile(r"^Inode: \d+\s+Type: (\w+)(?: special)?\s+Mode:\s+(\d+)", re.M)


def stat_many(image: Path, paths: list[str]) -> dict[str, Stat]:
    script = "".join(f'stat "{p.replace(chr(34), chr(34) * 2)}"\n' for p in paths)
    out = subprocess.run(
        ["debugfs", "-f", "-", str(image)], input=script, capture_output=True, text=True, check=True
    ).stdout
    chunks = re.split(r"^debugfs: stat .*$", out, flags=re.M)[1:]
    assert len(chunks) == len(paths), out[-500:]
    result = {}
    for path, chunk in zip(paths, chunks, strict=True):
        header = _HEADER.search(chunk)
        assert header, f"{path}: {chunk[:300]}"
        kind, perm = header.group(1), int(header.group(2), 8)
        uid = int(re.search(r"User:\s+(\d+)", chunk).group(1))
        gid = int(re.search(r"Group:\s+(\d+)", chunk).group(1))
        links = int(re.search(r"Links: (\d+)", chunk).group(1))
        mtime = int(re.search(r"mtime: (0x[0-9a-f]+)", chunk).group(1), 16)
        size = int(re.search(r"Size: (\d+)", chunk).group(1))
        xattrs = chunk.split("Extended attributes:")[1] if "Extended attributes:" in chunk else ""
        dev = re.search(r"Device major/minor number: (\d+):(\d+)", chunk)
        device = (int(dev.group(1)), int(dev.group(2))) if dev else None
        result[path] = Stat(perm | _TYPE[kind], uid, gid, links, mtime, size, xattrs, device)
    return result


_TYPE = {
    "regular": 0o100000,
    "directory": 0o040000,
    "symlink": 0o120000,
    "character": 0o020000,
    "block": 0o060000,
    "FIFO": 0o010000,
    "socket": 0o140000,
}
