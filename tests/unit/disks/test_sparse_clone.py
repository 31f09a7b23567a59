"""Sparse copy on the ordinary filesystem tmp_path lives on (no privileges needed)."""

import os
from pathlib import Path

import pytest

from banger.daemon.vm_disks import choose_strategy
from banger.disks import clone, dm
from banger.disks.clone import clone_disk, detect_strategy, reflink_supported
from banger.errors import Cancelled, Conflict, FailedPrecondition, InvalidArgument

MIB = 1 << 20


def _make_sparse(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)


def _sparse_image(path: Path) -> bytes:
    """A 64 MiB image with 3 data islands (one at the very start, none at the end)."""
    _make_sparse(path, 64 * MIB)
    islands = {0: os.urandom(MIB), 20 * MIB: os.urandom(3 * MIB), 40 * MIB + 4096: b"x" * 5000}
    with path.open("r+b") as f:
        for offset, data in islands.items():
            f.seek(offset)
            f.write(data)
    return path.read_bytes()


class CancelAfter:
    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.progressed: list[int] = []

    def progress(self, current: int, total: int | None = None, **_: object) -> None:
        self.progressed.append(current)

    def check_cancelled(self) -> None:
        self.calls -= 1
        if self.calls < 0:
            raise Cancelled("operation cancelled")


def test_copy_preserves_content_holes_and_mode(tmp_path: Path) -> None:
    src = tmp_path / "root.ext4"
    content = _sparse_image(src)
    src.chmod(0o640)
    dst = tmp_path / "vm" / "root.ext4"
    dst.parent.mkdir()
    result = clone_disk(src, dst, "copy")
    assert result.strategy == "copy" and result.path == dst
    assert result.size == 64 * MIB
    assert dst.read_bytes() == content
    assert dst.stat().st_mode & 0o777 == 0o640
    # Only the ~4 MiB of data was copied and allocated, not 64 MiB.
    assert result.copied_bytes < 6 * MIB
    allocated = dst.stat().st_blocks * 512
    assert allocated < 8 * MIB, f"holes were filled in: {allocated} bytes allocated"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["root.ext4"]


def test_copy_of_a_fully_sparse_image_allocates_nothing(tmp_path: Path) -> None:
    src = tmp_path / "empty.img"
    _make_sparse(src, 32 * MIB)
    dst = tmp_path / "clone.img"
    result = clone_disk(src, dst, "copy")
    assert result.copied_bytes == 0
    assert dst.stat().st_size == 32 * MIB
    assert dst.stat().st_blocks == 0


def test_cancelled_copy_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    _make_sparse(src, 64 * MIB)
    with src.open("r+b") as f:
        f.write(os.urandom(32 * MIB))  # 4 chunks of 8 MiB
    out = tmp_path / "out"
    out.mkdir()
    reporter = CancelAfter(2)
    with pytest.raises(Cancelled):
        clone_disk(src, out / "dst.img", "copy", reporter=reporter)
    assert reporter.progressed, "progress was never reported"
    assert list(out.iterdir()) == []


def test_existing_target_is_a_conflict(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    src.write_bytes(b"a" * 4096)
    dst = tmp_path / "dst.img"
    dst.write_bytes(b"keep me")
    with pytest.raises(Conflict):
        clone_disk(src, dst, "copy")
    assert dst.read_bytes() == b"keep me"


def test_missing_source_and_unknown_strategy(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        clone_disk(tmp_path / "nope", tmp_path / "dst", "copy")
    (tmp_path / "src").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="strategy"):
        clone_disk(tmp_path / "src", tmp_path / "dst", "rsync")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_reflink_where_unsupported_fails_and_leaves_nothing(tmp_path: Path) -> None:
    if reflink_supported(tmp_path):
        pytest.skip("tmp_path's filesystem supports reflink")
    src = tmp_path / "src.img"
    src.write_bytes(b"y" * 8192)
    with pytest.raises(FailedPrecondition, match="reflink") as caught:
        clone_disk(src, tmp_path / "dst.img", "reflink")
    assert caught.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.img"]


def test_dm_snapshot_is_not_a_clone_strategy(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    src.write_bytes(b"z" * 4096)
    with pytest.raises(InvalidArgument, match="unknown clone strategy 'dm-snapshot'"):
        clone_disk(src, tmp_path / "cow", "dm-snapshot")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.img"]


@pytest.mark.parametrize(("reflinks", "expected"), [(True, "reflink"), (False, "copy")])
def test_auto_selection_never_picks_dm_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reflinks: bool, expected: str
) -> None:
    # Even on a host whose device-mapper reports a loaded snapshot target.
    monkeypatch.setattr(dm, "dm_snapshot_unavailable_reason", lambda: None)
    assert detect_strategy(tmp_path, reflink_probe=lambda _: reflinks) == expected
    monkeypatch.setattr(clone, "reflink_supported", lambda _: reflinks)
    assert choose_strategy("auto", tmp_path) == expected
