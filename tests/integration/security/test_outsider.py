"""A user outside group banger cannot reach the daemon, and nobody but root reads its state.

The state dir holds every user's VM disks, kernels and the database; members get their own
objects through the API only, so neither an outsider nor a member may open anything in it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.daemon import BIN
from tests.integration.security.arena import Arena, run_as

pytestmark = pytest.mark.integration

_CONNECT = r"""
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /v1/vms HTTP/1.0\r\n\r\n")
    print("connected:" + s.recv(4096).decode(errors="replace"))
except OSError as exc:
    print(errno.errorcode[exc.errno])
"""

# For every path on stdin: what this user could learn (open and read, list, stat).
_PEEK = r"""
import json, os, sys
got = []
for path in json.load(sys.stdin):
    for how, attempt in (
        ("read", lambda p: open(p, "rb").read(1)),
        ("list", os.listdir),
        ("stat", os.lstat),
    ):
        try:
            attempt(path)
            got.append(how + " " + path)
        except OSError:
            pass
print(json.dumps(got))
"""


def every_entry(root: Path) -> list[str]:
    found = [str(root)]
    for current, dirs, files in os.walk(root):
        found += [os.path.join(current, name) for name in [*dirs, *files]]
    return found


def test_a_user_outside_the_group_cannot_connect(host: Arena) -> None:
    out = run_as(host.outsider, str(BIN / "python"), "-c", _CONNECT, str(host.daemon.socket))
    assert out.strip() == "EACCES", out
    member = run_as(host.b, str(BIN / "python"), "-c", _CONNECT, str(host.daemon.socket))
    assert member.startswith("connected:HTTP/1.1 200"), member  # the probe itself works


def test_nobody_but_root_reads_anything_of_the_state_dir(host: Arena) -> None:
    entries = every_entry(host.daemon.state_dir)
    vm_dir = host.daemon.state_dir / "vms" / host.objects["vm"]["id"]
    assert (
        str(vm_dir / "root.ext4") in entries and str(host.daemon.state_dir / "banger.db") in entries
    )
    for user in (host.outsider, host.b):
        peeked = json.loads(
            run_as(user, str(BIN / "python"), "-c", _PEEK, stdin=json.dumps(entries))
        )
        # Seeing that the state dir exists (its parent is traversable) is all anyone gets.
        assert peeked == [f"stat {host.daemon.state_dir}"], (user.name, peeked[:20])
