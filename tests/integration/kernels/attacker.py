"""A real non-root member of group banger, and a private daemon that member can reach.

The security tests attack as this user through the real CLI, the way a user of a shared
host would: everything the daemon does for them must stay within what they could do.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.daemon import BIN, RunningDaemon, make_daemon


@dataclass(frozen=True)
class Member:
    name: str
    uid: int
    gid: int
    home: Path  # a 0755 directory the member owns: where their hostile inputs live

    def argv(self, *argv: str) -> list[str]:
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        return ["setpriv", *ids, *argv]

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*argv), capture_output=True, text=True, timeout=timeout, env=self.env()
        )

    def cli(
        self, daemon: RunningDaemon, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "banger"), "--socket", str(daemon.socket), *args, timeout=timeout)

    def api_import(self, daemon: RunningDaemon, body: dict[str, str]) -> dict[str, Any]:
        """POST /v1/kernels/import straight to the socket (no CLI-side checks in the way)
        and wait for the operation; returns its final record."""
        script = (
            "import json,sys,time,httpx\n"
            "c=httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]),base_url='http://x/v1')\n"
            "op=c.post('/kernels/import',json=json.loads(sys.argv[2])).json()\n"
            "while op.get('state') in ('pending','running'):\n"
            "    time.sleep(0.2); op=c.get('/operations/'+op['id']).json()\n"
            "print(json.dumps(op))\n"
        )
        python = str(BIN / "python")
        done = self.run(python, "-c", script, str(daemon.socket), json.dumps(body), timeout=120)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def own(self, path: Path) -> Path:
        """Hand `path` (a file or tree built as root) to the member, modes untouched."""
        for current, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(Path(current) / name, self.uid, self.gid)
        os.lchown(path, self.uid, self.gid)
        return path


@contextmanager
def group_member(world: Path) -> Iterator[Member]:
    """A throwaway user in group banger (`useradd -M -G banger`), removed afterwards."""
    name = f"bangertest-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "-M", "-G", "banger", name], check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        home = world / name
        home.mkdir(mode=0o755)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield Member(name, entry.pw_uid, entry.pw_gid, home)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@contextmanager
def reachable_daemon() -> Iterator[tuple[RunningDaemon, Path]]:
    """A private bangerd under a world-traversable /tmp directory (the socket stays 0660)."""
    world = Path(tempfile.mkdtemp(prefix="banger-sec-", dir="/tmp"))
    os.chmod(world, 0o755)
    daemon = make_daemon(world / "d")
    os.chmod(daemon.root, 0o755)
    daemon.start()
    try:
        yield daemon, world
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            try:
                daemon.proc.wait(15)
            except subprocess.TimeoutExpired:
                daemon.proc.kill()
                daemon.proc.wait()
        daemon.proc = None
        shutil.rmtree(world, ignore_errors=True)


def dangerous_entries(root: Path) -> list[str]:
    """Anything under root a hostile package must never leave: setuid/setgid/sticky files,
    device nodes, FIFOs and sockets."""
    found = []
    for current, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(current) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
                found.append(f"{path} mode {oct(st.st_mode)}")
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                found.append(f"{path} is not a file or directory")
    return found
