"""The API document tells the truth: schemathesis, with every check, finds no failure.

A real bangerd on a temporary state dir, seeded with a kernel (the Debian kernel's bzImage,
imported), an image on it (a small ext4) and a stopped VM, so the stateful phase reaches
real objects. schemathesis speaks TCP only: tests/helpers/tcp_bridge.py forwards a
loopback port to the daemon's UNIX socket, so requests go through the real socket, the
SO_PEERCRED check (the peer is this test process: root) and the body limit, as any
client's do. The routes left out, and why, are in schemathesis.toml.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import BIN, RunningDaemon, make_daemon
from tests.helpers.kernel_artifacts import debian_kernel
from tests.helpers.tcp_bridge import tcp_bridge

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).parents[3]
CONFIG = Path(__file__).with_name("schemathesis.toml")
RUN_TIMEOUT = 900  # seconds; a run takes about 3 minutes on 2 busy cores


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[RunningDaemon]:
    daemon = make_daemon(tmp_path / "d")
    user_config = tmp_path / "user.toml"
    user_config.write_text("")
    daemon.env = {"BANGER_CONFIG": str(user_config), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    daemon.start()
    try:
        kernel = debian_kernel() / "bzImage"
        daemon.cli("kernel", "import", str(kernel), "--name", "seed-kernel", check=True)
        rootfs = tmp_path / "seed.ext4"
        subprocess.run(
            ["mke2fs", "-q", "-F", "-t", "ext4", str(rootfs), "8M"], check=True, capture_output=True
        )
        daemon.cli(
            "image", "register", "--name", "seed-image", "--rootfs", str(rootfs),
            "--kernel-ref", "seed-kernel", check=True,
        )  # fmt: skip
        daemon.cli(
            "vm", "create", "--no-start", "--name", "seed-vm", "--image", "seed-image",
            "--backend", "qemu", check=True,
        )  # fmt: skip
        yield daemon
    finally:
        with daemon.http() as http:  # the fuzzer boots nothing; leave no bridge either way
            http.post("/network/teardown")
        daemon.stop()


def _selected_operations(output: str) -> tuple[int, int]:
    found = re.search(r"Selected: (\d+)/(\d+)", output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2))


def test_schemathesis_with_all_checks_finds_no_failure(
    seeded: RunningDaemon, tmp_path: Path
) -> None:
    if not (BIN / "st").exists():
        pytest.fail("schemathesis is missing: scripts/test installs pyproject's [test] extra")
    with tcp_bridge(seeded.socket) as port:
        url = f"http://127.0.0.1:{port}/v1/openapi.json"
        argv = [str(BIN / "st"), "--config-file", str(CONFIG), "run", "--checks", "all"]
        run = subprocess.run(
            [*argv, "--no-color", url],
            cwd=tmp_path,  # hypothesis and schemathesis leave their caches in the cwd
            env={**os.environ, "PYTHONPATH": str(REPO)},  # for st_hooks
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]
    selected, total = _selected_operations(output)
    # Only the download and boot routes are left out (schemathesis.toml), and every
    # selected route was tested: a filter gone wrong cannot pass by testing nothing.
    assert selected >= total - 8 and selected >= 25, output[-3000:]
    assert f"Tested: {selected}" in output, output[-3000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", output), f"{phase} did not pass:\n{output[-3000:]}"
