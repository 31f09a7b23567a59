"""Shared parts of the tests against the real Firecracker: binary, spec, tap, its own log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from banger.vmm import Drive, FirecrackerBackend, NetIf, VMHandle, VMSpec
from banger.vmm.firecracker.jail import JailSettings
from tests.helpers.kernel_artifacts import debian_kernel

FAKE_SOURCE = Path(__file__).resolve().parents[2] / "fixtures/firecracker_fake/firecracker"

# Firecracker logs every API request it receives, and its verdict, to its own log:
#   [id:fc_api:INFO] The API server received a Put request on "/drives/root" with body "{...}".
#   [id:fc_api:INFO] The request was executed successfully. Status code: 204 No Content.
_RECEIVED = re.compile(r'received a (\w+) request on "([^"]+)"(?: with body "(.*)")?\.$')


@dataclass(frozen=True)
class Served:
    """One request as the real Firecracker logged it: what arrived and whether it succeeded."""

    method: str
    path: str
    body: object
    ok: bool


def served_requests(log: Path) -> list[Served]:
    """The API requests Firecracker's own log says it received, in order."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if ":fc_api:" in line]
    served = []
    for index, line in enumerate(lines):
        if (match := _RECEIVED.search(line)) is None:
            continue
        method, path, raw = match.groups()
        body = json.loads(json.loads(f'"{raw}"')) if raw else None
        verdict = lines[index + 1] if index + 1 < len(lines) else ""
        ok = "The request was executed successfully" in verdict
        served.append(Served(method.upper(), path, body, ok))
    return served


def make_spec(vm_dir: Path, tap: str, vm_id: str = "vm_real1") -> VMSpec:
    """A spec with every device banger configures: two drives, a tap, vsock, initrd."""
    kernel = debian_kernel()
    drives = []
    for drive_id in ("root", "work"):
        disk = vm_dir / f"{drive_id}.ext4"
        with disk.open("wb") as sparse:
            sparse.truncate(8 << 20)
        drives.append(Drive(id=drive_id, path=disk))
    return VMSpec(
        vm_id=vm_id,
        name=vm_id.replace("_", "-"),
        vm_dir=vm_dir,
        cpus=1,
        memory_mib=128,
        kernel=kernel / "vmlinux",
        initrd=kernel / "initrd.img",
        cmdline="console=ttyS0 reboot=k panic=-1 init=/banger/init",
        drives=drives,
        net=NetIf(tap=tap, mac="02:00:0a:10:00:05"),
        vsock_cid=3,
        console_log=vm_dir / "console.log",
    )


@dataclass
class Taps:
    """Uniquely named host taps, always removed afterwards."""

    made: list[str]

    def new(self, owner: int | None = None) -> str:
        name = f"bfc{os.getpid() % 100000}x{len(self.made)}"[:15]
        argv = ["ip", "tuntap", "add", "dev", name, "mode", "tap"]
        subprocess.run([*argv, *(["user", str(owner)] if owner else [])], check=True)
        self.made.append(name)
        return name


def tap_factory() -> Iterator[Taps]:
    taps = Taps([])
    try:
        yield taps
    finally:
        for name in taps.made:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def fake_wrapper(directory: Path) -> Path:
    """The conformance fake as an executable, run by this interpreter (pyyaml, jsonschema)."""
    wrapper = directory / "firecracker"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SOURCE}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def processes_under(directory: Path) -> list[str]:
    """Live processes whose command line names `directory` (a VM's sockets live there)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        # Not the test run itself (its temp dirs live under /tmp/pytest-of-*: match the
        # program, not the whole line).
        if int(pid) == os.getpid() or any(Path(a).name == "pytest" for a in argv[:3]):
            continue
        cmdline = " ".join(argv)
        if str(directory) in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Tracking(FirecrackerBackend):
    """The real backend, remembering what it started so a failing test leaks nothing."""

    def __init__(self, binary: Path, jail: JailSettings | None = None) -> None:
        super().__init__(binary, jail)
        self.started: list[VMHandle] = []

    def start(self, spec: VMSpec) -> VMHandle:
        handle = super().start(spec)
        self.started.append(handle)
        return handle

    def kill_all(self) -> None:
        for handle in self.started:
            self.kill(handle)
