"""The Firecracker backend against the REAL Firecracker v1.12.1, not the fake.

The binary is a pinned test-only dependency (tests/helpers/firecracker_binary.py). Every
backend path that needs no running guest runs here against it: spawn and supervision,
API readiness, each pre-boot request banger sends (checked in Firecracker's OWN log: what
it received and that it executed it), InstanceStart, status, forced stop, kill -9,
reattach, log and metrics files, cleanup. The test ids name the requests that ran.

This host's KVM is PVM: InstanceStart succeeds but the guest never prints a line. The
boot watchdog must say so naming KVM; where KVM works, the guest reaches userspace instead
and the test that needs that runs (here it is skipped, with the reason).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from banger.errors import BootFailed
from banger.guest.boot_watch import ConsoleWatch, Phase, StallLimits
from banger.vmm import Drive, FirecrackerBackend, NetIf, VMHandle, VMSpec
from banger.vmm.firecracker import FirecrackerApi, FirecrackerApiError
from banger.vmm.firecracker.payloads import boot_requests, runtime_paths
from tests.helpers.firecracker_binary import VERSION, firecracker_binaries
from tests.helpers.kernel_artifacts import debian_kernel

from .firecracker_real import (
    Taps,
    Tracking,
    make_spec,
    processes_under,
    served_requests,
    tap_factory,
)

pytestmark = pytest.mark.integration

WATCH_SECONDS = 12.0  # the kernel-phase stall bound used here (the daemon's default is 20)


@pytest.fixture(scope="module")
def fc_bin() -> Path:
    return firecracker_binaries().firecracker


@pytest.fixture(scope="module")
def taps() -> Iterator[Taps]:
    yield from tap_factory()


@pytest.fixture
def backend(fc_bin: Path) -> Iterator[Tracking]:
    fc = Tracking(fc_bin)
    yield fc
    fc.kill_all()


@dataclass
class Booted:
    spec: VMSpec
    handle: VMHandle
    outcome: BootFailed | Phase | None = None  # what the boot watch concluded, once asked


@pytest.fixture(scope="module")
def booted(fc_bin: Path, taps: Taps, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    """One real Firecracker, configured by banger and past InstanceStart."""
    fc = Tracking(fc_bin)
    spec = make_spec(tmp_path_factory.mktemp("booted"), taps.new())
    try:
        yield Booted(spec, fc.start(spec))
    finally:
        fc.kill_all()


# The requests banger sends, as test ids; built at collection from a spec of the same shape
# as make_spec's (paths are placeholders: only methods and paths are named here).
_TEMPLATE = [
    f"{r.method} {r.path}"
    for r in boot_requests(
        VMSpec(
            vm_id="t",
            name="t",
            vm_dir=Path("/t"),
            cpus=1,
            memory_mib=128,
            kernel=Path("/t/k"),
            initrd=Path("/t/i"),
            cmdline="",
            drives=[Drive(id="root", path=Path("/t/r")), Drive(id="work", path=Path("/t/w"))],
            net=NetIf(tap="t", mac="02:00:00:00:00:01"),
            vsock_cid=3,
            console_log=Path("/t/c"),
        ),
        runtime_paths(Path("/t")),
    )
]


@pytest.mark.parametrize("request_line", _TEMPLATE)
def test_request_ran_against_the_real_firecracker(booted: Booted, request_line: str) -> None:
    sent = {
        f"{r.method} {r.path}": r.body
        for r in boot_requests(booted.spec, runtime_paths(booted.spec.vm_dir))
    }
    served = served_requests(runtime_paths(booted.spec.vm_dir).log)
    method, path = request_line.split(" ", 1)
    matching = [s for s in served if s.method == method and s.path == path]
    assert len(matching) == 1, (request_line, served)
    assert matching[0].ok, f"the real Firecracker refused {request_line}"
    assert matching[0].body == sent[request_line]  # exactly what banger sent, as it read it


def test_the_real_firecracker_holds_banger_s_configuration(booted: Booted) -> None:
    spec = booted.spec
    with FirecrackerApi(booted.handle.api_socket) as api:
        state = api.describe_instance()
        config = api.request("GET", "/vm/config")
    assert state["state"] == "Running" and state["vmm_version"] == VERSION
    assert state["id"] == "vm-real1"  # --id, with banger's underscore mapped
    assert config["machine-config"]["vcpu_count"] == 1
    assert config["machine-config"]["mem_size_mib"] == 128
    boot = config["boot-source"]
    assert boot["kernel_image_path"] == str(spec.kernel)
    assert boot["initrd_path"] == str(spec.initrd)
    assert "init=/banger/init" in boot["boot_args"]
    drives = {d["drive_id"]: d for d in config["drives"]}
    assert drives["root"]["is_root_device"] and not drives["work"]["is_root_device"]
    assert drives["work"]["path_on_host"] == str(spec.drives[1].path)
    assert spec.net is not None
    assert config["network-interfaces"][0]["host_dev_name"] == spec.net.tap
    assert config["vsock"] == {
        "guest_cid": 3,
        "uds_path": str(runtime_paths(spec.vm_dir).vsock),
    }
    assert stat.S_ISSOCK(runtime_paths(spec.vm_dir).vsock.stat().st_mode)


def test_firecracker_logs_to_its_file_never_to_the_guest_console(booted: Booted) -> None:
    paths = runtime_paths(booted.spec.vm_dir)
    log = paths.log.read_text()
    assert f"Running Firecracker v{VERSION}" in log and ":fc_api:INFO]" in log
    # stdout is the serial console: Firecracker's own lines there would pass for guest
    # output (and for boot progress, to the watchdog).
    console = booted.spec.console_log.read_text(errors="replace")
    assert "Firecracker" not in console and "fc_api" not in console, console[:500]


def test_metrics_are_flushed_to_the_metrics_file(booted: Booted) -> None:
    metrics = runtime_paths(booted.spec.vm_dir).metrics
    with FirecrackerApi(booted.handle.api_socket) as api:
        api.put("/actions", {"action_type": "FlushMetrics"})
    first = json.loads(metrics.read_text().splitlines()[0])
    assert "utc_timestamp_ms" in first and "api_server" in first


def test_pre_boot_resources_are_refused_after_instance_start(booted: Booted) -> None:
    with (
        FirecrackerApi(booted.handle.api_socket) as api,
        pytest.raises(FirecrackerApiError) as refused,
    ):
        api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    assert "not supported after starting the microVM" in refused.value.message


def _watch_boot(booted: Booted) -> BootFailed | Phase:
    """Follow the console the way the daemon does, once for the module's tests."""
    if booted.outcome is None:
        watch = ConsoleWatch(
            booted.spec.console_log,
            StallLimits(kernel_seconds=WATCH_SECONDS),
            accel="kvm",
            vmm="firecracker",
        )
        try:
            while watch.phase is Phase.KERNEL:
                watch.check()
                time.sleep(0.2)
            booted.outcome = watch.phase
        except BootFailed as failed:
            booted.outcome = failed
    return booted.outcome


def test_the_watchdog_names_kvm_when_the_firecracker_guest_makes_no_progress(
    booted: Booted,
) -> None:
    outcome = _watch_boot(booted)
    if isinstance(outcome, Phase):
        pytest.skip("KVM runs guests on this host: the Firecracker guest reached userspace")
    assert "stalled under KVM" in outcome.message, outcome.one_line()
    assert "console stayed empty" in outcome.message  # Firecracker's own lines are not there
    assert "Firecracker runs guests only under KVM" in (outcome.hint or "")


def test_the_guest_reaches_userspace_where_kvm_works(booted: Booted) -> None:
    outcome = _watch_boot(booted)
    if isinstance(outcome, BootFailed):
        pytest.skip(f"this host's KVM cannot run Linux guests (PVM): {outcome.message}")
    assert outcome is Phase.USERSPACE


def _gone(spec: VMSpec) -> list[str]:
    """What a stopped Firecracker could have left: its process, its sockets."""
    paths = runtime_paths(spec.vm_dir)
    left = processes_under(spec.vm_dir)
    left += [str(p) for p in (paths.api_socket, paths.vsock) if p.exists()]
    return left


def test_stop_forces_a_guest_that_ignores_ctrl_alt_del_and_cleans_up(
    backend: Tracking, taps: Taps, tmp_path: Path
) -> None:
    spec = make_spec(tmp_path, taps.new(), vm_id="vm_stop")
    handle = backend.start(spec)
    assert backend.status(handle) == "running"
    assert handle.exe == str(Path(backend.firecracker_bin).resolve())
    started = time.monotonic()
    backend.stop(handle, timeout=1.0)  # the stalled guest cannot answer Ctrl+Alt+Del
    assert time.monotonic() - started < 10
    assert backend.status(handle) == "stopped"
    assert _gone(spec) == []
    served = served_requests(runtime_paths(tmp_path).log)
    assert any(s.path == "/actions" and s.body == {"action_type": "SendCtrlAltDel"} for s in served)
    backend.stop(handle, timeout=1.0)  # stopping what is gone is success


def test_kill_9_is_detected_reattach_refused_and_a_restart_works(
    backend: Tracking, fc_bin: Path, taps: Taps, tmp_path: Path
) -> None:
    spec = make_spec(tmp_path, taps.new(), vm_id="vm_crash")
    handle = backend.start(spec)
    restored = VMHandle.model_validate_json(handle.model_dump_json())
    fresh = FirecrackerBackend(fc_bin)  # as after a daemon restart
    assert fresh.reattach(restored) and fresh.status(restored) == "running"
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while fresh.status(restored) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh.status(restored) == "stopped" and not fresh.reattach(restored)
    # A killed Firecracker leaves its sockets; the real one then refuses PUT /vsock
    # ("Address in use") unless start clears them.
    assert runtime_paths(tmp_path).vsock.exists()
    again = backend.start(spec)
    assert backend.status(again) == "running" and again.pid != handle.pid
    backend.stop(again, timeout=0.5)
    assert _gone(spec) == []


def test_a_missing_drive_is_refused_with_firecrackers_fault_and_nothing_is_left(
    backend: Tracking, taps: Taps, tmp_path: Path
) -> None:
    spec = make_spec(tmp_path, taps.new(), vm_id="vm_bad")
    missing = spec.model_copy(update={"drives": [Drive(id="root", path=tmp_path / "nope")]})
    with pytest.raises(FirecrackerApiError) as refused:
        backend.start(missing)
    message = refused.value.one_line()
    assert "PUT /drives/root" in message and "No such file or directory" in message
    assert "Drive config error" in message  # the real Firecracker's words
    assert "\n" not in message
    assert _gone(spec) == []


def test_a_kernel_firecracker_cannot_load_fails_at_instance_start_and_is_cleaned_up(
    backend: Tracking, taps: Taps, tmp_path: Path
) -> None:
    # check_spec refuses a bzImage before start; this is what the binary itself does.
    spec = make_spec(tmp_path, taps.new(), vm_id="vm_bzimage")
    bzimage = spec.model_copy(update={"kernel": debian_kernel() / "bzImage"})
    with pytest.raises(FirecrackerApiError) as refused:
        backend.start(bzimage)
    assert "PUT /actions" in refused.value.message and "Elf" in refused.value.message
    assert _gone(spec) == []


def test_a_reused_pid_is_not_trusted(backend: Tracking, taps: Taps, tmp_path: Path) -> None:
    handle = backend.start(make_spec(tmp_path, taps.new(), vm_id="vm_reuse"))
    stale = handle.model_copy(update={"start_time": handle.start_time - 1})
    assert backend.status(stale) == "stopped" and not backend.reattach(stale)
    backend.kill(stale)  # must not kill the real process behind a reused pid
    assert backend.status(handle) == "running"


def test_a_wedged_firecracker_is_terminated(backend: Tracking, taps: Taps, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, taps.new(), vm_id="vm_wedged")
    handle = backend.start(spec)
    os.kill(handle.pid, signal.SIGSTOP)  # its API cannot answer Ctrl+Alt+Del any more
    try:
        backend.stop(handle, timeout=0.5)
    finally:
        if backend.status(handle) == "running":
            os.kill(handle.pid, signal.SIGCONT)
    assert backend.status(handle) == "stopped"
    assert _gone(spec) == []
