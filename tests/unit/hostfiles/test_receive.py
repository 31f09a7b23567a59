"""hostfiles: paths opened by a child with the caller's credentials, fds passed back.

Run as root, with two real callers: root itself and `nobody` (setpriv drops to it).
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
import threading
from pathlib import Path

import pytest

from banger import proc
from banger.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from banger.hostfiles import Caller, Limits, Wanted, copy_in, open_files, read_small
from banger.hostfiles.receive import Entry, _ChildGone, _converse, _Receiver

ROOT = Caller(0, 0, (0,))
_nobody = pwd.getpwnam("nobody")
NOBODY = Caller(_nobody.pw_uid, _nobody.pw_gid, (_nobody.pw_gid,))


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A directory anyone may enter (pytest's own temp root is 0700)."""
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:
        if parent == Path("/var/tmp") or parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    return tmp_path


def public(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_the_fd_keeps_what_was_opened_whatever_the_path_becomes(world: Path) -> None:
    mine = public(world / "mine", b"the caller's bytes")
    secret = public(world / "secret", b"root only", 0o600)
    [fd] = open_files(NOBODY, [Wanted(mine, "rootfs")])
    mine.unlink()
    mine.symlink_to(secret)  # the swap after the open: too late to matter
    with os.fdopen(fd, "rb") as opened:
        assert opened.read() == b"the caller's bytes"


def test_a_file_only_root_may_read_is_refused_to_a_member(world: Path) -> None:
    secret = public(world / "secret", b"root only", 0o600)
    link = world / "innocent"
    link.symlink_to(secret)
    for path in (secret, link):
        with pytest.raises(PermissionDenied, match=f"uid {NOBODY.uid} may not read"):
            open_files(NOBODY, [Wanted(path, "rootfs")])
    [fd] = open_files(ROOT, [Wanted(link, "rootfs")])  # root may: same code path
    os.close(fd)


def test_a_file_in_a_closed_directory_is_refused(world: Path) -> None:
    closed = world / "closed"
    closed.mkdir(mode=0o700)
    public(closed / "file", b"world readable, but behind a closed door")
    with pytest.raises(PermissionDenied, match="may not read"):
        open_files(NOBODY, [Wanted(closed / "file", "kernel")])


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_at_once(world: Path) -> None:
    fifo = world / "fifo"
    os.mkfifo(fifo, 0o666)  # no writer: an open without O_NONBLOCK would wait forever
    with pytest.raises(InvalidArgument, match="is a FIFO, not a regular file"):
        open_files(NOBODY, [Wanted(fifo, "rootfs")])


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/proc/kallsyms", "is on procfs"),
        ("/sys/kernel/notes", "is on sysfs"),
        ("/dev/null", "is a character device"),
        ("/tmp", "is a directory, not a regular file"),
    ],
)
def test_special_files_and_pseudo_filesystems_are_refused(path: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        open_files(ROOT, [Wanted(Path(path), "initrd")])


def test_missing_and_relative_paths(world: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        open_files(NOBODY, [Wanted(world / "missing", "rootfs")])
    with pytest.raises(InvalidArgument, match="not an absolute path"):
        open_files(NOBODY, [Wanted(Path("relative"), "rootfs")])


def test_read_small_is_bounded(world: Path) -> None:
    config = public(world / "config.json", b"x" * 2000)
    assert read_small(NOBODY, config, "docker config", 4096) == b"x" * 2000
    with pytest.raises(InvalidArgument, match="larger than 1 KiB"):
        read_small(NOBODY, config, "docker config", 1024)


def source_tree(world: Path) -> Path:
    top = world / "src"
    (top / "sub/deeper").mkdir(parents=True)
    public(top / "a.txt", b"a")
    public(top / "sub/run.sh", b"#!/bin/sh\n", 0o755)
    public(top / "sub/deeper/c", b"c" * 5000)
    (top / "link-to-a").symlink_to("a.txt")
    (top / "dangling").symlink_to("/nowhere/at/all")
    (top / "dir-link").symlink_to("sub")
    os.chmod(top / "sub", 0o775)
    return top


def test_a_tree_copied_with_links_and_modes_kept(world: Path) -> None:
    top = source_tree(world)
    dest = world / "out" / "copy"
    dest.parent.mkdir()
    wanted = Wanted(top, "--copy source", tree=True, keep_links=True)
    copy_in(NOBODY, wanted, dest, keep_modes=True, max_bytes=1 << 20)
    assert (dest / "sub/deeper/c").read_bytes() == b"c" * 5000
    assert stat.S_IMODE((dest / "sub/run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "sub").stat().st_mode) == 0o775
    assert os.readlink(dest / "link-to-a") == "a.txt"
    assert os.readlink(dest / "dangling") == "/nowhere/at/all"
    assert os.readlink(dest / "dir-link") == "sub"
    assert (dest / "a.txt").stat().st_uid == 0  # the daemon's copy, not the caller's file


def test_a_tree_read_through_links_privately(world: Path) -> None:
    top = source_tree(world)
    dest = world / "modules"
    copy_in(
        NOBODY,
        Wanted(top, "modules directory", tree=True),
        dest,
        keep_modes=False,
        max_bytes=1 << 20,
    )
    assert (dest / "link-to-a").read_bytes() == b"a" and not (dest / "link-to-a").is_symlink()
    assert not (dest / "dangling").exists() and not (dest / "dir-link").exists()
    for current, dirs, files in os.walk(dest):
        for name in dirs + files:
            mode = stat.S_IMODE((Path(current) / name).stat().st_mode)
            assert mode == (0o700 if name in dirs else 0o600), name


def test_one_unreadable_file_fails_the_whole_tree_and_leaves_nothing(world: Path) -> None:
    top = source_tree(world)
    public(top / "sub/deeper/secret", b"root only", 0o600)
    dest = world / "copy"
    with pytest.raises(PermissionDenied, match="secret: uid"):
        copy_in(
            NOBODY,
            Wanted(top, "--copy source", tree=True),
            dest,
            keep_modes=True,
            max_bytes=1 << 20,
        )
    assert not dest.exists()


def test_a_tree_is_bounded_in_entries_and_bytes(world: Path) -> None:
    top = source_tree(world)
    with pytest.raises(InvalidArgument, match="more entries"):
        copy_in(
            NOBODY,
            Wanted(top, "--copy source", tree=True),
            world / "c1",
            keep_modes=True,
            max_bytes=1 << 20,
            limits=Limits(max_entries=3),
        )
    with pytest.raises(InvalidArgument, match="larger than"):
        copy_in(
            NOBODY,
            Wanted(top, "--copy source", tree=True),
            world / "c2",
            keep_modes=True,
            max_bytes=4000,
        )
    assert not (world / "c1").exists() and not (world / "c2").exists()


def test_a_single_file_is_copied_to_dest(world: Path) -> None:
    source = public(world / "config.toml", b"key = 1\n", 0o604)
    dest = world / "copy"
    copy_in(
        NOBODY, Wanted(source, "--copy source", tree=True), dest, keep_modes=True, max_bytes=100
    )
    assert dest.read_bytes() == b"key = 1\n" and stat.S_IMODE(dest.stat().st_mode) == 0o604


# The child runs as the caller, who may ptrace it: what it sends is checked as hostile.


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a\0b"])
def test_names_that_could_escape_are_refused(name: str) -> None:
    receiver = _Receiver(NOBODY, [Wanted(Path("/x"), "tree", tree=True)], Limits())
    with pytest.raises(Unavailable, match="outside what was asked for"):
        receiver.entry({"kind": "dir", "index": 0, "name": name, "mode": 0o755}, [])


def test_an_fd_that_is_not_a_regular_file_is_refused(world: Path) -> None:
    receiver = _Receiver(NOBODY, [Wanted(Path("/x"), "rootfs")], Limits())
    left, right = socket.socketpair()
    reading, writing = os.pipe()
    try:
        for fd, kind in ((left.fileno(), "a socket"), (reading, "a FIFO")):
            with pytest.raises(InvalidArgument, match=f"is {kind}, not a regular file"):
                receiver.entry({"kind": "file", "index": 0, "name": ""}, [fd])
        with pytest.raises(Unavailable, match="does not match its descriptors"):
            receiver.entry({"kind": "file", "index": 0, "name": ""}, [])
        with pytest.raises(Unavailable, match="outside what was asked for"):
            receiver.entry({"kind": "dir", "index": 1, "name": ""}, [])
    finally:
        left.close(), right.close(), os.close(reading), os.close(writing)  # type: ignore[func-returns-value]


def converse_with(messages: list[tuple[bytes, list[int]]]) -> list[Entry]:
    """Play the child: queue `messages`, then be gone (a finished thread)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    seen: list[Entry] = []
    try:
        for data, fds in messages:
            socket.send_fds(theirs, [data], fds)
        ours.settimeout(0.1)
        receiver = _Receiver(NOBODY, [Wanted(Path("/x"), "tree", tree=True)], Limits())
        _converse(ours, receiver, seen.append, gone)
    finally:
        ours.close(), theirs.close()  # type: ignore[func-returns-value]
    return seen


def test_a_child_that_stops_without_done_is_noticed() -> None:
    with pytest.raises(_ChildGone):
        converse_with([(b'{"kind": "dir", "index": 0, "name": "", "mode": 493}', [])])
    entries = converse_with(
        [(b'{"kind": "dir", "index": 0, "name": "", "mode": 493}', []), (b'{"kind": "done"}', [])]
    )
    assert [(e.kind, e.name, e.mode) for e in entries] == [("dir", "", 0o755)]


def test_extra_descriptors_are_closed_and_refused(world: Path) -> None:
    files = [os.open(public(world / f"f{i}", b"x"), os.O_RDONLY) for i in range(2)]
    try:
        header = b'{"kind": "file", "index": 0, "name": "f"}'
        with pytest.raises(Unavailable, match="oversized message"):
            converse_with([(header, files)])
    finally:
        for fd in files:
            os.close(fd)


def test_a_file_on_fuse_is_refused_before_the_daemon_reads_it(world: Path) -> None:
    """A FUSE server (fuse2fs here) is some user's program: a read could block forever."""
    image, mount = world / "fs.ext4", world / "mnt"
    mount.mkdir()
    proc.run(["mke2fs", "-q", "-t", "ext4", str(image), "8M"])
    proc.run(["fuse2fs", "-o", "fakeroot,allow_other", str(image), str(mount)])
    try:
        public(mount / "disk.ext4", b"served by a user program")
        with pytest.raises(InvalidArgument, match="is on a FUSE filesystem"):
            open_files(NOBODY, [Wanted(mount / "disk.ext4", "rootfs")])
    finally:
        proc.run(["umount", str(mount)])
