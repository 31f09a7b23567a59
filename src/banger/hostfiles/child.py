"""The program that opens host paths AS THE CALLER and hands the open files to bangerd.

bangerd runs it with the caller's uid, gid and groups, no capabilities and no_new_privs
(hostfiles/credentials.py), fed as source to `python -I -S -` (hostfiles/program.py), so
it imports only the standard library and hostfiles/safeopen.py. The kernel decides what
the caller may open, at the moment of opening, symlinks and all; what it opened goes back
over a SOCK_SEQPACKET socket as SCM_RIGHTS, one message per entry:

    {"kind": "file", "index": I, "name": REL, "mode": M}      + the open fd
    {"kind": "dir", "index": I, "name": REL, "mode": M}
    {"kind": "symlink", "index": I, "name": REL, "target": T}  (trees kept with links)
    {"kind": "error", "code": C, "message": M, "hint": H}      then exit EXIT_REFUSED
    {"kind": "done"}

REL is "" for the wanted path itself, else a relative path below it. bangerd trusts none
of it (the caller can ptrace this process): it checks every fd and name it receives.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import stat

from banger.hostfiles.safeopen import HostInputError, open_regular, os_error

EXIT_REFUSED = 3


class _Sender:
    """The socket back to bangerd, and the cap on how many entries one request may send."""

    def __init__(self, sock: socket.socket, max_entries: int) -> None:
        self.sock, self.entries_left = sock, max_entries

    def entry(self, header: dict[str, object], what: str, fd: int | None = None) -> None:
        self.entries_left -= 1
        if self.entries_left < 0:
            raise HostInputError(
                "invalid_argument",
                f"{what} holds more entries than banger copies in one request",
                "pass a smaller directory",
            )
        self.send(header, fd)

    def send(self, header: dict[str, object], fd: int | None = None) -> None:
        socket.send_fds(self.sock, [json.dumps(header).encode()], [] if fd is None else [fd])


def _send_file(out: _Sender, index: int, path: str, name: str, what: str) -> None:
    fd = open_regular(path, what)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        out.entry({"kind": "file", "index": index, "name": name, "mode": mode}, what, fd)
    finally:
        os.close(fd)


def _send_link(out: _Sender, index: int, path: str, name: str, what: str, keep: bool) -> None:
    """keep: the link itself. Else read through it (as the caller) when it leads to a
    file; links to directories and dangling links are skipped (a modules tree's build and
    source links)."""
    if keep:
        target = os.readlink(path)
        out.entry({"kind": "symlink", "index": index, "name": name, "target": target}, what)
        return
    try:
        leads_to = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error(path, what, exc) from None
    if not stat.S_ISDIR(leads_to):
        _send_file(out, index, path, name, what)


def _send_tree(out: _Sender, index: int, top: str, what: str, keep_links: bool) -> None:
    """The directory `top` and everything below it, parents before children."""

    def fail(exc: OSError) -> None:
        raise os_error(exc.filename or top, what, exc)

    for current, dirs, files in os.walk(top, onerror=fail):
        rel = os.path.relpath(current, top)
        name = "" if rel == "." else rel
        mode = stat.S_IMODE(os.lstat(current).st_mode)
        out.entry({"kind": "dir", "index": index, "name": name, "mode": mode}, what)
        links = sorted(d for d in dirs if os.path.islink(os.path.join(current, d)))
        dirs[:] = sorted(d for d in dirs if d not in links)
        for entry in sorted(files) + links:
            path = os.path.join(current, entry)
            child = entry if not name else f"{name}/{entry}"
            if os.path.islink(path):
                _send_link(out, index, path, child, what, keep_links)
            else:
                _send_file(out, index, path, child, what)


def _send_wanted(out: _Sender, index: int, wanted: dict[str, object]) -> None:
    path, what = str(wanted["path"]), str(wanted["what"])
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        raise os_error(path, what, exc) from None
    if is_dir and wanted.get("tree"):
        _send_tree(out, index, path, what, bool(wanted.get("keep_links")))
    else:
        _send_file(out, index, path, "", what)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="banger-open-as-caller")
    parser.add_argument("--socket-fd", type=int, required=True)
    parser.add_argument("--max-entries", type=int, required=True)
    parser.add_argument("--wanted", required=True, help="JSON list of {path, what, tree}")
    args = parser.parse_args(argv)
    out = _Sender(socket.socket(fileno=args.socket_fd), args.max_entries)
    try:
        for index, wanted in enumerate(json.loads(args.wanted)):
            _send_wanted(out, index, wanted)
    except HostInputError as err:
        out.send({"kind": "error", "code": err.code, "message": err.message, "hint": err.hint})
        return EXIT_REFUSED
    out.send({"kind": "done"})
    return 0
