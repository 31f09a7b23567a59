"""device-mapper snapshots: a VM disk as a copy-on-write overlay of a read-only image.

NOT WIRED: no clone strategy, config value or daemon step uses this module yet (VM start
does not activate a snapshot, so a VM would boot an empty COW file); `clone_strategy =
"dm-snapshot"` is refused at config load. It holds the tested pure builders for when
activation at VM start is real.

Plan:
  origin = losetup --find --show --read-only IMAGE       (shared, never written)
  cow    = losetup --find --show VM_COW_FILE            (sparse file, the VM's changes)
  dmsetup create NAME --table "0 SECTORS snapshot ORIGIN COW P 8"
  -> the VM boots from /dev/mapper/NAME
Teardown, in reverse: dmsetup remove NAME ; losetup -d COW ; losetup -d ORIGIN.
Loop devices and dm tables do not survive a reboot, so activation happens at VM start and
teardown at VM stop; only the COW file is persistent ("P").

The pure builders below are unit-tested. The privileged path runs only behind
`require_dm_snapshot()`; hosts without device-mapper (this project's CI) get a
FailedPrecondition before anything is touched.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from banger import proc
from banger.errors import FailedPrecondition, InvalidArgument

SECTOR_SIZE = 512
MAPPER_CONTROL = Path("/dev/mapper/control")
_DM_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,127}$")


def snapshot_table(origin_dev: str, cow_dev: str, sectors: int, chunk_sectors: int = 8) -> str:
    """The one-line `dmsetup create --table` for a persistent snapshot of `origin_dev`.

    `sectors` is the origin's size in 512-byte sectors; `chunk_sectors` the copy-on-write
    granularity (8 = 4 KiB, matching ext4 blocks), which the kernel wants a power of two.
    """
    if sectors <= 0:
        raise InvalidArgument(f"a snapshot needs a positive size, got {sectors} sectors")
    if chunk_sectors < 8 or chunk_sectors & (chunk_sectors - 1):
        raise InvalidArgument(
            f"snapshot chunk size {chunk_sectors} sectors is not a power of two >= 8",
            hint="use 8 (4 KiB) unless you measured a reason not to",
        )
    for dev in (origin_dev, cow_dev):
        if not dev.startswith("/dev/") or any(c.isspace() for c in dev):
            raise InvalidArgument(f"{dev!r} is not a block device path")
    return f"0 {sectors} snapshot {origin_dev} {cow_dev} P {chunk_sectors}"


def sectors_of(image: Path) -> int:
    """Size of `image` in sectors; it must be a whole number of sectors."""
    size = image.stat().st_size
    if size % SECTOR_SIZE:
        raise InvalidArgument(
            f"{image} is {size} bytes, not a multiple of {SECTOR_SIZE}",
            hint="resize the image to a whole number of 512-byte sectors",
        )
    return size // SECTOR_SIZE


def check_dm_name(name: str) -> str:
    if not _DM_NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid device-mapper name {name!r}",
            hint="use up to 127 letters, digits, '_', '.', '+' or '-'",
        )
    return name


def losetup_attach_argv(image: Path, *, read_only: bool) -> list[str]:
    argv = ["losetup", "--find", "--show"]
    return [*argv, "--read-only", str(image)] if read_only else [*argv, str(image)]


def dmsetup_create_argv(name: str, table: str) -> list[str]:
    return ["dmsetup", "create", check_dm_name(name), "--table", table]


def dmsetup_remove_argv(name: str) -> list[str]:
    return ["dmsetup", "remove", check_dm_name(name)]


def dm_snapshot_unavailable_reason() -> str | None:
    """Why dm-snapshot cannot be used here, or None when it can (real probe)."""
    if not MAPPER_CONTROL.exists():
        return f"{MAPPER_CONTROL} does not exist (no device-mapper in this kernel)"
    try:
        if proc.run(["dmsetup", "version"], check=False).returncode != 0:
            return "dmsetup version failed (the device-mapper driver does not answer)"
        targets = proc.run(["dmsetup", "targets"], check=False)
    except FailedPrecondition as exc:  # dmsetup itself is missing
        return exc.message
    if not any(line.split()[:1] == ["snapshot"] for line in targets.stdout.splitlines()):
        return "the dm 'snapshot' target is not loaded"
    return None


def require_dm_snapshot() -> None:
    reason = dm_snapshot_unavailable_reason()
    if reason is not None:
        raise FailedPrecondition(
            f"device-mapper snapshots are unavailable: {reason}",
            hint="apt-get install dmsetup and modprobe dm_snapshot, or keep the state "
            "directory on btrfs/xfs (reflink) or use the 'copy' clone strategy",
        )


@dataclass(frozen=True)
class SnapshotDevice:
    """An active snapshot: what deactivate_snapshot needs to take it down again."""

    name: str
    origin: Path
    origin_loop: str
    cow: Path
    cow_loop: str

    @property
    def path(self) -> Path:
        return Path("/dev/mapper") / self.name


def loop_backing_file(loop_dev: str) -> str | None:
    """The file behind /dev/loopN (from sysfs), or None when the loop is not attached."""
    sysfs = Path("/sys/block") / Path(loop_dev).name / "loop" / "backing_file"
    try:
        return sysfs.read_text().strip()
    except OSError:
        return None


def _detach(loop_dev: str, backing: Path) -> None:
    """losetup -d LOOP, but only while LOOP still holds `backing`: a freed loop number may
    already belong to someone else."""
    current = loop_backing_file(loop_dev)
    if current is not None and current.removesuffix(" (deleted)") == str(backing.resolve()):
        proc.run(["losetup", "-d", loop_dev])


def activate_snapshot(origin: Path, cow: Path, name: str) -> SnapshotDevice:
    """Attach `origin` read-only and `cow`, and create /dev/mapper/`name` over them.

    Each resource's undo is registered as it is acquired, so a failure detaches everything.
    """
    check_dm_name(name)
    require_dm_snapshot()
    sectors = sectors_of(origin)
    with ExitStack() as undo:
        origin_loop = proc.run(losetup_attach_argv(origin, read_only=True)).stdout.strip()
        undo.callback(_detach, origin_loop, origin)
        cow_loop = proc.run(losetup_attach_argv(cow, read_only=False)).stdout.strip()
        undo.callback(_detach, cow_loop, cow)
        proc.run(dmsetup_create_argv(name, snapshot_table(origin_loop, cow_loop, sectors)))
        undo.pop_all()
    return SnapshotDevice(name, origin, origin_loop, cow, cow_loop)


def deactivate_snapshot(device: SnapshotDevice) -> None:
    """Remove the dm device and detach both loops; parts already gone are success."""
    if Path(device.path).exists():
        proc.run(dmsetup_remove_argv(device.name))
    _detach(device.cow_loop, device.cow)
    _detach(device.origin_loop, device.origin)
