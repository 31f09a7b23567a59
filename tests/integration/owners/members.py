"""Real, throwaway users of a shared host, and a private daemon they can all reach.

The owner tests act as these users through the real CLI (setpriv with their own uid, gid
and groups), the way two people sharing a machine would.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.daemon import BIN, RunningDaemon, debian_daemon, remove_tree


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path  # 0700, theirs: the CLI keeps their ssh key here

    def _as_me(self, *argv: str) -> list[str]:
        """argv run with this user's uid, primary gid and groups (from /etc/group)."""
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        return ["setpriv", *ids, *argv]

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.home), "LANG": "C.UTF-8"}

    def _banger(self, daemon: RunningDaemon, *args: str) -> list[str]:
        return self._as_me(str(BIN / "banger"), "--socket", str(daemon.socket), *args)

    def cli(
        self, daemon: RunningDaemon, *args: str, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`banger ARGS` as this user, with their own HOME (their ssh key lives there)."""
        return subprocess.run(
            self._banger(daemon, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
        )

    def ok(self, daemon: RunningDaemon, *args: str) -> str:
        done = self.cli(daemon, *args)
        assert done.returncode == 0, f"{self.name}: banger {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, daemon: RunningDaemon, *args: str) -> Any:
        return json.loads(self.ok(daemon, "--json", *args))

    def request(self, daemon: RunningDaemon, method: str, path: str) -> tuple[int, Any]:
        """One raw API request as this user, no CLI in the way: (status, JSON body)."""
        script = (
            "import json,sys,httpx\n"
            "c=httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]),base_url='http://x/v1')\n"
            "r=c.request(sys.argv[2],sys.argv[3])\n"
            "print(json.dumps([r.status_code,r.json()]))\n"
        )
        argv = self._as_me(str(BIN / "python"), "-c", script, str(daemon.socket), method, path)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=self._env())
        assert done.returncode == 0, done.stderr
        status, body = json.loads(done.stdout)
        return int(status), body

    def popen(self, daemon: RunningDaemon, *args: str) -> subprocess.Popen[str]:
        """`banger ARGS` as this user in the background (the caller waits for it)."""
        return subprocess.Popen(
            self._banger(daemon, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(),
        )


@contextmanager
def throwaway_group(prefix: str) -> Iterator[str]:
    name = f"{prefix}-{secrets.token_hex(3)}"
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["groupdel", name], check=False, capture_output=True)


@contextmanager
def throwaway_user(prefix: str, world: Path, groups: list[str]) -> Iterator[User]:
    """`useradd -M -G GROUPS PREFIX-<random>`, with a private home under `world`; removed
    when done (the tests wait for every process they start as it)."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "-M", "-G", ",".join(groups), name], check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        home = world / name
        home.mkdir(mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield User(name, entry.pw_uid, entry.pw_gid, home)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@dataclass(frozen=True)
class SharedHost:
    daemon: RunningDaemon  # runs as root; its CLI (daemon.cli) acts as root
    a: User
    b: User
    admin: User  # a member of the daemon's admin_group
    world: Path


@contextmanager
def shared_host() -> Iterator[SharedHost]:
    """A private daemon (kernel 'debian', image 'deb', both root's) with admin_group set,
    reachable by users A and B (members of banger) and an admin, all made for this run."""
    world = Path(tempfile.mkdtemp(prefix="banger-owners-", dir="/tmp"))
    os.chmod(world, 0o755)  # the users must reach the socket under it
    with ExitStack() as stack:
        stack.callback(remove_tree, world)
        admins = stack.enter_context(throwaway_group("bgtest-adm"))
        a = stack.enter_context(throwaway_user("bgtest-a", world, ["banger"]))
        b = stack.enter_context(throwaway_user("bgtest-b", world, ["banger"]))
        admin = stack.enter_context(throwaway_user("bgtest-c", world, ["banger", admins]))
        daemon = stack.enter_context(
            debian_daemon(world, daemon_config=f'admin_group = "{admins}"')
        )
        yield SharedHost(daemon, a, b, admin, world)


def refused(result: subprocess.CompletedProcess[str], message: str) -> str:
    """A non-zero exit with one error line that carries `message` and a hint."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and "(hint: " in lines[0], lines[0]
    return lines[0]


def small_ext4(path: Path, owner: User) -> Path:
    """A tiny ext4 file owned by `owner`: enough to register (it is never booted)."""
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(path), "8M"], check=True)
    os.chown(path, owner.uid, owner.gid)
    return path
