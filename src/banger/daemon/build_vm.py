"""The builder VM of `image build`: a hidden, short-lived VM that runs steps and powers off.

It is not a row in the `vms` table (users never see or manage it); its address is an
`ip_leases` row owned by "build-<id>", so VMs and builders never share one, and the daemon
releases such leases (and their taps) at start-up, since no build survives a restart.
Everything it acquires (address, tap, VMM process) is undone on the way out.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from banger.daemon import build_ssh
from banger.daemon.boot_plan import GuestBoot
from banger.daemon.boot_set import BootSet
from banger.daemon.vm_boot import Booter
from banger.errors import BootFailed, Unavailable
from banger.guest import generate_host_keypair
from banger.guest.boot_watch import ConsoleWatch, Phase
from banger.images.build_console import BuildDone, StepBegin, StepExit, StepOutput, Transcript
from banger.network import mac_for
from banger.ops.manager import OperationReporter
from banger.store.layout import BUILDER_PREFIX, BuilderDir
from banger.vmm import Backend, Drive, ProcessState, VMHandle

POLL_SECONDS = 0.2
POWEROFF_GRACE_SECONDS = 60.0
BUILD_DRIVE_ID = "build"


BUILDER_LEASE_PREFIX = BUILDER_PREFIX


def builder_lease_owner(builder_id: str) -> str:
    """A builder's id is its directory's name, "build-<token>" (StateLayout.builder): it is
    its own lease owner, and the prefix is what keeps it apart from VM ids (hex)."""
    if not builder_id.startswith(BUILDER_LEASE_PREFIX):
        raise ValueError(f"builder id {builder_id!r} lacks the {BUILDER_LEASE_PREFIX!r} prefix")
    return builder_id


@dataclass(frozen=True)
class BuilderPlan:
    builder_id: str
    builder_dir: Path  # holds root.ext4, build.ext4, console.log, sockets, pidfile
    root: Path
    build_disk: Path
    boot: BootSet
    cpus: int
    memory_mib: int
    accel: str
    nonce: str
    steps: list[str]  # one summary per step
    timeout_s: float
    via: build_ssh.Via = "console"


def _client_key(plan: BuilderPlan) -> tuple[Path, str]:
    """A one-off key the daemon logs into the builder with (dies with the builder dir)."""
    files = BuilderDir(plan.builder_dir)
    private, public = generate_host_keypair(files.keygen_dir)
    files.client_key.touch(mode=0o600)
    files.client_key.write_text(private)
    return files.client_key, public


def builder_guest(plan: BuilderPlan, client_public_key: str | None, build_device: str) -> GuestBoot:
    """The VM boot plan's data, edited for a builder: a read-only build drive, the build
    mode (steps from the console) unless steps come over ssh, and a quieter kernel."""
    private, public = generate_host_keypair(BuilderDir(plan.builder_dir).keygen_dir)
    return GuestBoot(
        guest_id=plan.builder_id,
        hostname="banger-builder",
        lease_owner=builder_lease_owner(plan.builder_id),
        mac=mac_for(plan.builder_id),
        run_dir=plan.builder_dir,
        console_log=BuilderDir(plan.builder_dir).console_log,
        root_disk=plan.root,
        extra_drives=(Drive(id=BUILD_DRIVE_ID, path=plan.build_disk, read_only=True),),
        cpus=plan.cpus,
        memory_mib=plan.memory_mib,
        boot=plan.boot,
        accel=plan.accel,
        host_key_private=private,
        host_key_public=public,
        authorized_keys=(client_public_key,) if client_public_key else (),
        # Without build mode the base boots its own init; steps then come over ssh.
        guest_extra={"MODE": "build", "BUILD_DEVICE": build_device}
        if plan.via == "console"
        else {},
        # quiet: fewer kernel messages interleaved with the step output on the console.
        cmdline_extra=("quiet",),
    )


def run_builder(
    plan: BuilderPlan,
    booter: Booter,
    backend: Backend,
    reporter: OperationReporter,
) -> Transcript:
    """Boot the builder, stream its steps into the operation log, return what it said.

    Returns once the VMM has exited (or been killed); the caller judges the transcript.
    """
    with contextlib.ExitStack() as undo:
        client_key, client_public = _client_key(plan) if plan.via == "ssh" else (None, None)
        build_device = backend.guest_drive_device(1)  # the drive after the root disk
        guest = builder_guest(plan, client_public, build_device)
        reporter.log(f"builder: {backend.name}, {plan.accel}, steps via {plan.via}")
        run = booter.run(guest, backend, undo, reporter)
        handle = run.state.handle
        assert handle is not None and run.state.ip is not None
        reporter.on_cancel(lambda: backend.kill(handle))
        watch = booter.watch(guest.console_log, backend.effective_accel(plan.accel), backend.name)
        if client_key is None or client_public is None:
            return _follow(plan, backend, handle, reporter, watch)
        transcript = Transcript(nonce=plan.nonce, steps=len(plan.steps))
        build_ssh.run_over_ssh(
            ip=str(run.state.ip),
            host_key_public=guest.host_key_public,
            client_key=client_key,
            client_public_key=client_public,
            build_device=build_device,
            transcript=transcript,
            backend=backend,
            handle=handle,
            reporter=reporter,
            on_event=lambda event: _report(plan, event, reporter),
            deadline=time.monotonic() + plan.timeout_s,
            watch=watch,
        )
        return transcript
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


def _check_boot(watch: ConsoleWatch, exited: bool, reporter: OperationReporter) -> None:
    """Fail fast on a builder whose kernel stalls, panics or dies before userspace."""
    try:
        if exited:
            reporter.check_cancelled()  # killed by a cancel: say so
            raise watch.exited()
        watch.judge()
    except BootFailed:
        watch.report_tail(reporter.log)
        raise


def _report(plan: BuilderPlan, event: object, reporter: OperationReporter) -> None:
    total = len(plan.steps)
    if isinstance(event, StepBegin):
        reporter.stage(f"step {event.step}/{total}: {plan.steps[event.step - 1]}")
    elif isinstance(event, StepOutput):
        reporter.log(event.line)
    elif isinstance(event, StepExit):
        reporter.log(f"step {event.step}/{total} exited with status {event.code}")
    elif isinstance(event, BuildDone) and event.ok and plan.via == "console":
        reporter.stage("builder powering off")  # build mode powers off by itself


def _follow(
    plan: BuilderPlan,
    backend: Backend,
    handle: VMHandle,
    reporter: OperationReporter,
    watch: ConsoleWatch,
) -> Transcript:
    """Tail the console log as it grows until the VMM exits (timeout and cancel aware).

    Until the guest reaches userspace the boot watch judges stalls; after that a step may
    be silent as long as it likes, within the build timeout.
    """
    transcript = Transcript(nonce=plan.nonce, steps=len(plan.steps))
    deadline = time.monotonic() + plan.timeout_s
    done_at: float | None = None
    while True:
        exited = backend.status(handle) is ProcessState.STOPPED
        while data := watch.poll():
            for event in transcript.feed(data):
                _report(plan, event, reporter)
            if not exited:
                break  # read the rest on the next round; once exited, read it all now
        if watch.skipped:
            raise Unavailable(
                f"the builder printed faster than its console could be followed: "
                f"{watch.skipped} bytes were trimmed unread, so the steps' results are lost",
                hint="print less on the console (redirect a step's output to a file), or "
                "raise [limits] console_log_bytes in /etc/banger/config.toml",
            )
        if watch.phase is Phase.KERNEL:
            _check_boot(watch, exited, reporter)
        if exited:
            transcript.feed(b"\n")  # a last line without its newline still counts
            reporter.check_cancelled()  # killed by a cancel: say so, not "stopped early"
            return transcript
        reporter.check_cancelled()
        now = time.monotonic()
        if transcript.done is not None and done_at is None:
            done_at = now
        if done_at is not None and now - done_at > POWEROFF_GRACE_SECONDS:
            reporter.log("warning: the builder did not power off; killing it")
            backend.kill(handle)
            continue
        if now > deadline:
            raise Unavailable(
                f"the build did not finish within {plan.timeout_s:g} seconds",
                hint="a step may be waiting for input or the network; pass a longer "
                "timeout or check the step's output above",
            )
        time.sleep(POLL_SECONDS)
