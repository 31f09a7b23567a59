"""Open host paths as the caller, at the moment of use, and receive the open files.

bangerd is root. It never opens a path a caller handed in: a permission check followed
by a root open loses to a symlink swapped in between. Instead a short-lived child with
the caller's credentials (hostfiles/credentials.py) opens them (hostfiles/child.py) and
passes the open file descriptors back over a socketpair (SCM_RIGHTS). bangerd then reads
only from those fds: whatever the path points to later, it reads what the caller could
open when it asked. The child is the caller's (they may ptrace it), so every message is
checked here as hostile input: fds must be regular files on ordinary filesystems, names
relative and below the wanted path, counts bounded, and the whole exchange timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from banger import proc
from banger.errors import BangerError, InvalidArgument, Unavailable
from banger.hostfiles import child, safeopen
from banger.hostfiles.credentials import Caller, child_argv
from banger.hostfiles.program import child_program
from banger.hostfiles.refusals import banger_error, from_refusal

EntryKind = Literal["file", "dir", "symlink"]
_MAX_HEADER = 16384  # a JSON header: a relative path (PATH_MAX 4096, escaped) and a few fields
_POLL_S = 0.5


@dataclass(frozen=True)
class Wanted:
    """One host path a request names."""

    path: Path
    what: str  # how errors name it: "rootfs", "--copy source", ...
    tree: bool = False  # a directory is welcome: it and everything below it, as entries
    keep_links: bool = False  # in a tree: symlinks as symlinks (else read through to files)


@dataclass(frozen=True)
class Limits:
    max_entries: int = 100_000
    timeout_s: float = 900.0


@dataclass(frozen=True)
class Entry:
    """One thing the caller opened. `fd` (files only) is open for the callback's duration."""

    index: int  # which Wanted
    kind: EntryKind
    name: str  # "" for the wanted path itself, else a relative path below it
    mode: int  # permission bits (a file's from fstat, not from the child's word)
    fd: int = -1
    target: str = ""  # a symlink's target, as the caller's filesystem holds it


def _tampered(caller: Caller, why: str) -> Unavailable:
    return Unavailable(
        f"the reader running as uid {caller.uid} sent {why}",
        hint="retry; if it persists, look at the daemon log",
    )


def _relative(name: object) -> str | None:
    """A safe relative name ("" for the top), or None for anything that could escape."""
    if (
        not isinstance(name, str)
        or "\0" in name
        or len(name.encode(errors="surrogateescape")) > 4096
    ):
        return None
    if name == "":
        return name
    if any(part in ("", ".", "..") for part in name.split("/")):
        return None  # also "/abs" (its first part is ""), "a//b" and "a/"
    return name


class _Receiver:
    """Checks and turns the child's messages into Entries."""

    def __init__(self, caller: Caller, wanted: Sequence[Wanted], limits: Limits) -> None:
        self.caller, self.wanted, self.entries_left = caller, wanted, limits.max_entries

    def entry(self, header: dict[str, Any], fds: list[int]) -> Entry:
        kind, index, name = header.get("kind"), header.get("index"), _relative(header.get("name"))
        if kind not in ("file", "dir", "symlink") or not isinstance(index, int):
            raise _tampered(self.caller, "a malformed message")
        if not 0 <= index < len(self.wanted) or name is None:
            raise _tampered(self.caller, "a name outside what was asked for")
        self.entries_left -= 1
        if self.entries_left < 0:
            raise InvalidArgument(
                f"{self.wanted[index].what} holds too many entries", hint="pass a smaller one"
            )
        if (kind == "file") != (len(fds) == 1) or (kind == "symlink" and name == ""):
            raise _tampered(self.caller, "an entry that does not match its descriptors")
        if kind == "file":
            return self._file(index, name, fds[0])
        if kind == "symlink":
            target = header.get("target")
            if not isinstance(target, str) or not target or "\0" in target:
                raise _tampered(self.caller, "a malformed link")
            return Entry(index, "symlink", name, 0o777, target=target)
        mode = header.get("mode")
        return Entry(index, "dir", name, mode & 0o7777 if isinstance(mode, int) else 0o700)

    def _file(self, index: int, name: str, fd: int) -> Entry:
        shown = str(self.wanted[index].path / name) if name else str(self.wanted[index].path)
        try:
            safeopen.check_open(fd, shown, self.wanted[index].what)
            safeopen.refuse_user_served(fd, shown, self.wanted[index].what)
        except safeopen.HostInputError as err:
            raise from_refusal(err) from None
        return Entry(index, "file", name, os.fstat(fd).st_mode & 0o7777, fd=fd)


def _receive(sock: socket.socket, caller: Caller) -> tuple[dict[str, Any], list[int]]:
    data, fds, flags, _ = socket.recv_fds(sock, _MAX_HEADER, 1)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise _tampered(caller, "an oversized message")
    try:
        header = json.loads(data)
    except ValueError:
        header = None
    if not isinstance(header, dict):
        for fd in fds:
            os.close(fd)
        raise _tampered(caller, "a malformed message" if data else "nothing (it died)")
    return header, fds


class _ChildGone(Exception):
    """The child exited without saying done or refusing."""


def _converse(
    sock: socket.socket,
    receiver: _Receiver,
    on_entry: Callable[[Entry], None],
    running: threading.Thread,
) -> None:
    """Hand every entry to on_entry until the child says done (or refuses, or dies)."""
    while True:
        try:
            header, fds = _receive(sock, receiver.caller)
        except TimeoutError:
            if not running.is_alive():
                sock.setblocking(False)  # it is gone: drain what it queued, then stop
            continue
        except BlockingIOError:
            raise _ChildGone from None
        try:
            if header.get("kind") == "done" and not fds:
                return
            if header.get("kind") == "error" and not fds:
                raise banger_error(
                    str(header.get("code")), str(header.get("message"))[:500], header.get("hint")
                )
            on_entry(receiver.entry(header, fds))
        finally:
            for fd in fds:
                os.close(fd)


def read_as_caller(
    caller: Caller,
    wanted: Sequence[Wanted],
    on_entry: Callable[[Entry], None],
    limits: Limits | None = None,
) -> None:
    """Open every wanted path as `caller` and call on_entry for each entry, in order
    (a tree's directories before what they hold). Raises the caller's refusal as a
    banger error; an exception from on_entry stops the child and propagates."""
    limits = limits or Limits()
    for item in wanted:
        if not item.path.is_absolute():
            raise InvalidArgument(
                f"{item.what} {item.path} is not an absolute path", hint="pass a full path"
            )
    spec = [
        {"path": str(w.path), "what": w.what, "tree": w.tree, "keep_links": w.keep_links}
        for w in wanted
    ]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    argv = [
        *child_argv(caller),
        "--socket-fd",
        str(theirs.fileno()),
        "--max-entries",
        str(limits.max_entries),
        "--wanted",
        json.dumps(spec),
    ]
    script = child_program(child, safeopen)
    outcome: dict[str, proc.Completed | BangerError] = {}

    def run() -> None:
        try:
            outcome["done"] = proc.run(
                argv,
                input=script,
                text=False,
                cwd="/",
                check=False,
                timeout=limits.timeout_s,
                pass_fds=(theirs.fileno(),),
            )
        except BangerError as exc:
            outcome["done"] = exc

    running = threading.Thread(target=run, name=f"read-as-{caller.uid}", daemon=True)
    ours.settimeout(_POLL_S)
    gone = False
    try:
        running.start()
        _converse(ours, _Receiver(caller, wanted, limits), on_entry, running)
    except _ChildGone:
        gone = True
    finally:
        ours.close()  # a child still sending gets EPIPE and exits
        running.join()
        theirs.close()
    _check_exit(caller, outcome.get("done"))
    if gone:  # it exited 0 without finishing: not the program bangerd gave it
        raise _tampered(caller, "nothing more and exited")


def _check_exit(caller: Caller, done: proc.Completed | BangerError | None) -> None:
    if isinstance(done, BangerError):
        raise done
    if done is not None and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(
            f"reading as uid {caller.uid} failed: {last}",
            hint="look at the daemon log; setpriv (util-linux) must be installed",
        )


def open_files(caller: Caller, wanted: Sequence[Wanted]) -> list[int]:
    """One open fd per wanted regular file, in order (the caller of this closes them)."""
    fds: list[int] = []

    def keep(entry: Entry) -> None:
        if entry.kind != "file" or entry.name:
            raise _tampered(caller, "more than the files asked for")
        fds.append(os.dup(entry.fd))

    try:
        files_only = [Wanted(w.path, w.what) for w in wanted]
        read_as_caller(caller, files_only, keep, Limits(max_entries=len(wanted), timeout_s=60))
        if len(fds) != len(wanted):
            raise _tampered(caller, "fewer files than asked for")
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return fds


def read_small(caller: Caller, path: Path, what: str, limit: int) -> bytes:
    """The contents of one regular file `caller` may read, at most `limit` bytes."""
    [fd] = open_files(caller, [Wanted(path, what)])
    with os.fdopen(fd, "rb") as source:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(
            f"{what} {path} is larger than {limit // 1024} KiB",
            hint="check you passed the right file",
        )
    return data
