import os
from pathlib import Path

import pytest

from banger.disks import dm
from banger.errors import FailedPrecondition, InvalidArgument


def test_snapshot_table_line() -> None:
    table = dm.snapshot_table("/dev/loop3", "/dev/loop4", 2097152)
    assert table == "0 2097152 snapshot /dev/loop3 /dev/loop4 P 8"


def test_snapshot_table_custom_chunk() -> None:
    assert dm.snapshot_table("/dev/loop0", "/dev/loop1", 16, 64).endswith(" P 64")


@pytest.mark.parametrize("chunk", [0, 4, 12, 100])
def test_bad_chunk_sizes_are_refused(chunk: int) -> None:
    with pytest.raises(InvalidArgument, match="chunk"):
        dm.snapshot_table("/dev/loop0", "/dev/loop1", 16, chunk)


@pytest.mark.parametrize(
    ("origin", "cow", "sectors"),
    [("/dev/loop0", "/dev/loop1", 0), ("loop0", "/dev/loop1", 8), ("/dev/loop0", "/dev/a b", 8)],
)
def test_bad_table_inputs_are_refused(origin: str, cow: str, sectors: int) -> None:
    with pytest.raises(InvalidArgument):
        dm.snapshot_table(origin, cow, sectors)


def test_sectors_of_counts_512_byte_sectors(tmp_path: Path) -> None:
    image = tmp_path / "img"
    image.write_bytes(b"")
    os.truncate(image, 64 << 20)
    assert dm.sectors_of(image) == (64 << 20) // 512
    os.truncate(image, 1000)
    with pytest.raises(InvalidArgument, match="multiple of 512"):
        dm.sectors_of(image)


def test_setup_and_teardown_commands() -> None:
    image = Path("/var/lib/banger/images/x/rootfs.ext4")
    assert dm.losetup_attach_argv(image, read_only=True) == [
        "losetup",
        "--find",
        "--show",
        "--read-only",
        str(image),
    ]
    assert "--read-only" not in dm.losetup_attach_argv(image, read_only=False)
    table = dm.snapshot_table("/dev/loop0", "/dev/loop1", 8)
    assert dm.dmsetup_create_argv("banger-vm1", table) == [
        "dmsetup",
        "create",
        "banger-vm1",
        "--table",
        table,
    ]
    assert dm.dmsetup_remove_argv("banger-vm1") == ["dmsetup", "remove", "banger-vm1"]
    with pytest.raises(InvalidArgument):
        dm.dmsetup_create_argv("bad/name", table)


def test_activation_fails_cleanly_without_device_mapper(tmp_path: Path) -> None:
    if dm.dm_snapshot_unavailable_reason() is None:
        pytest.skip("this host has device-mapper snapshots")
    origin = tmp_path / "origin"
    origin.write_bytes(b"\0" * 4096)
    cow = tmp_path / "cow"
    cow.write_bytes(b"")
    with pytest.raises(FailedPrecondition, match="device-mapper") as caught:
        dm.activate_snapshot(origin, cow, "banger-test")
    assert caught.value.hint
