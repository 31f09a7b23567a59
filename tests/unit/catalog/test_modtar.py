"""modules.tar.gz is reproducible, rooted at lib/modules/<release>, and safetar-clean."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

from banger.catalog.modtar import write_modules_tar
from banger.kernels import safetar
from banger.ops.reporter import NullReporter

RELEASE = "6.1.0-1-amd64"


def _tree(root: Path) -> Path:
    modules = root / RELEASE
    (modules / "kernel" / "drivers").mkdir(parents=True)
    (modules / "kernel" / "drivers" / "virtio.ko").write_bytes(b"\x7fELF module")
    (modules / "modules.dep").write_text("kernel/drivers/virtio.ko:\n")
    os.chmod(modules / "modules.dep", 0o4755)  # no mode bit of the host survives
    (modules / "build").symlink_to("/usr/src/linux-headers")  # left out
    return modules


def _pack(modules: Path) -> bytes:
    sink = io.BytesIO()
    write_modules_tar(modules, RELEASE, sink, NullReporter())
    return sink.getvalue()


def test_same_tree_same_bytes_and_normalized_entries(tmp_path: Path) -> None:
    modules = _tree(tmp_path)
    first = _pack(modules)
    os.utime(modules / "modules.dep", (1, 1))  # a new mtime changes nothing
    assert _pack(modules) == first
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert f"lib/modules/{RELEASE}/kernel/drivers/virtio.ko" in members
    assert f"lib/modules/{RELEASE}/build" not in members
    assert all(m.name.startswith("lib") for m in members.values())
    dep = members[f"lib/modules/{RELEASE}/modules.dep"]
    assert (dep.mode, dep.uid, dep.gid, dep.mtime) == (0o644, 0, 0, 0)


def test_what_publish_writes_pull_unpacks(tmp_path: Path) -> None:
    blob = _pack(_tree(tmp_path / "src"))
    into = tmp_path / "out"
    with gzip.GzipFile(fileobj=io.BytesIO(blob)) as stream:
        safetar.extract(stream, into, what="modules", reporter=NullReporter())  # type: ignore[arg-type]
    module = into / "lib" / "modules" / RELEASE / "kernel" / "drivers" / "virtio.ko"
    assert module.read_bytes() == b"\x7fELF module"
