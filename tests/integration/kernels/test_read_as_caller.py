"""copy_as_caller with a real non-root member: the kernel's permission checks, not ours."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.errors import BangerError, InvalidArgument, NotFound, PermissionDenied
from banger.kernels.caller import Caller, copy_as_caller
from banger.ops.reporter import NullReporter
from tests.integration.kernels.attacker import Member, group_member
from tests.unit.kernels.hostile import FAKE_VERSION, kernel_tree, secret_file

pytestmark = pytest.mark.integration


@pytest.fixture
def world() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="banger-caller-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def member(world: Path) -> Iterator[Member]:
    with group_member(world) as user:
        yield user


def as_caller(member: Member) -> Caller:
    groups = tuple(sorted({member.gid, grp.getgrnam("banger").gr_gid}))
    return Caller(member.uid, member.gid, groups)


def copy(member: Member, into: Path, **paths: Path) -> Path:
    inputs = copy_as_caller(
        as_caller(member),
        source=paths["source"],
        modules_dir=paths.get("modules_dir"),
        initrd=paths.get("initrd"),
        into=into,
        reporter=NullReporter(),
    )
    return inputs.source


def test_the_copy_reads_with_the_callers_uid_and_groups(member: Member, world: Path) -> None:
    tree = member.own(kernel_tree(member.home / "tree"))
    os.chmod(tree / f"boot/config-{FAKE_VERSION}", 0o600)  # the member's own, private
    group_file = world / "group-only"
    group_file.write_bytes(b"for group banger")
    os.chown(group_file, 0, grp.getgrnam("banger").gr_gid)
    os.chmod(group_file, 0o640)
    staging = world / "staging"
    staging.mkdir()
    source = copy(member, staging / "a", source=tree, initrd=group_file)
    assert (source / f"boot/config-{FAKE_VERSION}").is_file()
    assert (staging / "a/input/initrd").read_bytes() == b"for group banger"
    assert sorted(os.listdir(staging / "a")) == ["input"]  # the inbox is gone
    for current, dirs, files in os.walk(staging / "a"):
        for name in [*dirs, *files]:
            st = (Path(current) / name).lstat()
            assert st.st_uid == os.geteuid(), name
            assert stat.S_IMODE(st.st_mode) in (0o600, 0o700), name


@pytest.mark.timeout(120)
def test_the_copy_refuses_what_the_caller_may_not_read(member: Member, world: Path) -> None:
    secret = secret_file(world)
    closed = world / "closed"
    closed.mkdir(mode=0o700)
    (closed / "file").write_bytes(b"x")
    fifo = member.home / "fifo"
    os.mkfifo(fifo)
    member.own(fifo)
    cases: list[tuple[Path, type[BangerError], str]] = [
        (secret, PermissionDenied, f"uid {member.uid} may not read"),
        (closed / "file", PermissionDenied, "may not read"),
        (Path("/proc/kallsyms"), InvalidArgument, "procfs"),
        (fifo, InvalidArgument, "is a FIFO"),
        (world / "missing", NotFound, "does not exist"),
    ]
    for index, (path, kind, words) in enumerate(cases):
        with pytest.raises(kind, match=words):
            copy(member, world / f"s{index}", source=path)
        assert sorted(os.listdir(world / f"s{index}")) == []  # no inbox, no partial copy
