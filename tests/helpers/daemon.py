"""Start a real bangerd on a temporary socket and state dir, and drive the real CLI at it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


@dataclass
class RunningDaemon:
    root: Path
    socket: Path
    state_dir: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def cli(
        self, *args: str, check: bool = False, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "banger"), "--socket", str(self.socket), *args]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"banger {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def http(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url="http://bangerd/v1",
            timeout=60,
        )

    def start(self) -> None:
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [str(BIN / "bangerd"), "--config", str(self.config), "--log-level", "debug"],
            stdout=logf,
            stderr=logf,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bangerd exited: {self.log.read_text()[-2000:]}")
            try:
                with self.http() as client:
                    client.get("/version")
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"bangerd did not come up: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def make_daemon(root: Path, extra_config: str = "") -> RunningDaemon:
    """A daemon config with its own socket, state dir, bridge and subnet (never the defaults)."""
    tag = secrets.token_hex(3)
    root.mkdir(parents=True, exist_ok=True)
    state_dir = root / "state"
    socket = root / "bangerd.sock"
    config = root / "bangerd.toml"
    subnet_octet = 100 + int(tag[:2], 16) % 100
    config.write_text(
        f'state_dir = "{state_dir}"\nsocket_path = "{socket}"\n{extra_config}\n'
        f'[network]\nbridge = "bgt{tag}"\nsubnet = "10.{subnet_octet}.{int(tag[2:4], 16)}.0/24"\n'
        f'nft_table = "banger_t{tag}"\n'
    )
    return RunningDaemon(
        root=root, socket=socket, state_dir=state_dir, config=config, log=root / "bangerd.log"
    )


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def debian_daemon(
    root: Path, user_config: str = "", daemon_config: str = ""
) -> Iterator[RunningDaemon]:
    """A running daemon with kernel 'debian' and image 'deb' (a private copy) registered.

    On the way out every VM is deleted, the test bridge and NAT table are removed and the
    daemon stops, whatever the tests did.
    """
    from tests.helpers.kernel_artifacts import debian_kernel_deb
    from tests.helpers.rootfs_artifacts import private_debian_rootfs

    daemon = make_daemon(root / "d", daemon_config)
    config = root / "user.toml"
    config.write_text(user_config)
    daemon.env = {"BANGER_CONFIG": str(config), "XDG_CONFIG_HOME": str(root / "xdg")}
    daemon.start()
    try:
        daemon.cli("kernel", "import", str(debian_kernel_deb()), "--name", "debian", check=True)
        base = private_debian_rootfs(root / "debian.ext4")
        daemon.cli(
            "image",
            "register",
            "--name",
            "deb",
            "--rootfs",
            str(base),
            "--kernel-ref",
            "debian",
            check=True,
        )
        yield daemon
    finally:
        for vm in json.loads(daemon.cli("--json", "vm", "list").stdout or "[]"):
            daemon.cli("vm", "delete", "--force", vm["name"])
        with daemon.http() as client:
            client.post("/network/teardown")
        daemon.stop()
