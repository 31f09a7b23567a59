"""The conformance fake must answer like the real Firecracker v1.12.1 wherever banger cares.

Each case is a short request sequence sent, pre-boot, to a fresh real Firecracker and a
fresh fake; every answer (status and fault message) must agree. Where they disagreed the
real one won and the fake was corrected (PATCH /machine-config before boot is allowed,
the logger may be set twice, FlushMetrics needs a started VM, a stale vsock socket is
refused, the fault messages). Deserialization faults are compared by their common prefix:
the fake validates with JSON Schema, the real one with serde, and their details differ.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.firecracker_binary import firecracker_binaries

from .firecracker_real import fake_wrapper, wait_until

pytestmark = pytest.mark.integration

DESERIALIZE = "An error occurred when deserializing the json body of a request"
Step = tuple[str, str, dict[str, Any] | None]
DRIVE = {"drive_id": "root", "path_on_host": "{dir}/root", "is_root_device": True}
MACHINE = {"vcpu_count": 1, "mem_size_mib": 128, "smt": False}

CASES: dict[str, list[Step]] = {
    "describe": [("GET", "/", None)],
    "machine config, then PATCH before boot": [
        ("PUT", "/machine-config", MACHINE),
        ("PATCH", "/machine-config", {"vcpu_count": 2}),
    ],
    "unknown field": [("PUT", "/machine-config", {**MACHINE, "bogus": 1})],
    "unknown action": [("PUT", "/actions", {"action_type": "Reboot"})],
    "drive id mismatch": [("PUT", "/drives/other", DRIVE)],
    "missing drive file": [("PUT", "/drives/root", {**DRIVE, "path_on_host": "{dir}/nope"})],
    "two root drives": [
        ("PUT", "/drives/root", DRIVE),
        ("PUT", "/drives/r2", {**DRIVE, "drive_id": "r2"}),
    ],
    "missing kernel": [("PUT", "/boot-source", {"kernel_image_path": "{dir}/nope"})],
    "missing initrd": [
        ("PUT", "/boot-source", {"kernel_image_path": "{dir}/root", "initrd_path": "{dir}/no"})
    ],
    "logger twice": [
        ("PUT", "/logger", {"log_path": "{dir}/log", "level": "Info", "show_level": True}),
        ("PUT", "/logger", {"log_path": "{dir}/log", "level": "Info", "show_level": True}),
    ],
    "logger in a missing directory": [("PUT", "/logger", {"log_path": "{dir}/no/log"})],
    "metrics twice": [
        ("PUT", "/metrics", {"metrics_path": "{dir}/metrics"}),
        ("PUT", "/metrics", {"metrics_path": "{dir}/metrics"}),
    ],
    "metrics in a missing directory": [("PUT", "/metrics", {"metrics_path": "{dir}/no/m"})],
    "vsock over a stale socket file": [
        ("PUT", "/vsock", {"guest_cid": 3, "uds_path": "{dir}/stale.sock"})
    ],
    "vsock, then again elsewhere": [
        ("PUT", "/vsock", {"guest_cid": 3, "uds_path": "{dir}/v1.sock"}),
        ("PUT", "/vsock", {"guest_cid": 4, "uds_path": "{dir}/v2.sock"}),
    ],
    "Ctrl+Alt+Del before boot": [("PUT", "/actions", {"action_type": "SendCtrlAltDel"})],
    "FlushMetrics before boot": [("PUT", "/actions", {"action_type": "FlushMetrics"})],
    "InstanceStart without a kernel": [("PUT", "/actions", {"action_type": "InstanceStart"})],
}


def _fill(body: Any, directory: Path) -> Any:
    return json.loads(json.dumps(body).replace("{dir}", str(directory)))


def _answers(binary: Path, steps: list[Step], directory: Path) -> Iterator[tuple[int, Any]]:
    """Run `steps` against a fresh `binary` in `directory`; yield (status, comparable)."""
    directory.mkdir()
    for name in ("root", "log", "metrics"):
        (directory / name).write_bytes(b"")
    (directory / "stale.sock").write_bytes(b"")  # what a killed Firecracker leaves
    sock = directory / "api.sock"
    argv = [str(binary), "--api-sock", str(sock), "--id", "parity"]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(sock.exists, 10), f"{binary} never opened {sock}"
        transport = httpx.HTTPTransport(uds=str(sock))
        with httpx.Client(transport=transport, base_url="http://localhost", timeout=5) as api:
            for method, path, body in steps:
                reply = api.request(method, path, json=_fill(body, directory))
                data = reply.json() if reply.content else None
                if isinstance(data, dict) and "fault_message" in data:
                    fault = str(data["fault_message"]).replace(str(directory), "{dir}")
                    data = DESERIALIZE if fault.startswith(DESERIALIZE) else fault
                yield reply.status_code, data
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("case", list(CASES))
def test_the_fake_answers_like_the_real_firecracker(case: str, tmp_path: Path) -> None:
    real = list(_answers(firecracker_binaries().firecracker, CASES[case], tmp_path / "real"))
    fake = list(_answers(fake_wrapper(tmp_path), CASES[case], tmp_path / "fake"))
    assert fake == real
