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
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from banger.daemon import build_ssh
from banger.daemon.vm_boot import Booter, BootSet
from banger.disks import debugfs
from banger.errors import BootFailed, Unavailable
from banger.guest import GuestSettings, generate_host_keypair, kernel_cmdline, render_guest_files
from banger.guest.boot_watch import ConsoleWatch, Phase
from banger.images.build_console import BuildDone, StepBegin, StepExit, StepOutput, Transcript
from banger.network import create_tap, delete_tap, host_dns_servers, mac_for, tap_name
from banger.ops.manager import OperationReporter
from banger.vmm import Backend, Drive, NetIf, VMHandle, VMSpec

BUSYBOX = Path("/bin/busybox")
CONSOLE_LOG = "console.log"
BUILD_DEVICE = "/dev/vdb"  # the second virtio drive, after the root disk
POLL_SECONDS = 0.2
POWEROFF_GRACE_SECONDS = 60.0


BUILDER_LEASE_PREFIX = "build-"


def builder_lease_owner(builder_id: str) -> str:
    return BUILDER_LEASE_PREFIX + builder_id


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


def _settings(
    plan: BuilderPlan, booter: Booter, ip: IPv4Address, client_public_key: str | None
) -> GuestSettings:
    private, public = generate_host_keypair(plan.builder_dir / "hostkey")
    dns = [IPv4Address(d) for d in booter.dns] or host_dns_servers()
    return GuestSettings(
        hostname="banger-builder",
        mac=mac_for(plan.builder_id),
        ip=IPv4Interface(f"{ip}/{booter.net.subnet.prefixlen}"),
        gateway=booter.net.gateway,
        dns=dns,
        host_key_private=private,
        host_key_public=public,
        authorized_keys=[client_public_key] if client_public_key else [],
        # Without build mode the base boots its own init; steps then come over ssh.
        extra={"MODE": "build", "BUILD_DEVICE": BUILD_DEVICE} if plan.via == "console" else {},
    )


def _client_key(plan: BuilderPlan) -> tuple[Path, str]:
    """A one-off key the daemon logs into the builder with (dies with the builder dir)."""
    private, public = generate_host_keypair(plan.builder_dir / "client")
    key = plan.builder_dir / "client_key"
    key.touch(mode=0o600)
    key.write_text(private)
    return key, public


def _spec(plan: BuilderPlan, tap: str, mac: str) -> VMSpec:
    return VMSpec(
        vm_id=plan.builder_id,
        name=plan.builder_id,
        vm_dir=plan.builder_dir,
        cpus=plan.cpus,
        memory_mib=plan.memory_mib,
        kernel=plan.boot.kernel,
        initrd=plan.boot.initrd,
        # quiet: fewer kernel messages interleaved with the step output on the console.
        cmdline=kernel_cmdline(extra=["quiet"]),
        drives=[
            Drive(id="root", path=plan.root),
            Drive(id="build", path=plan.build_disk, read_only=True),
        ],
        net=NetIf(tap=tap, mac=mac),
        console_log=plan.builder_dir / CONSOLE_LOG,
        accel=plan.accel,  # type: ignore[arg-type]
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
        reporter.stage("builder network")
        booter.ensure_network()
        owner = builder_lease_owner(plan.builder_id)
        ip = booter.leases.acquire(owner, booter.net)
        undo.callback(booter.leases.release, owner)
        tap = tap_name(plan.builder_id)
        create_tap(tap, booter.net.bridge)  # ip tuntap add dev TAP mode tap; ip link set ...
        undo.callback(delete_tap, tap)  # ip link del TAP

        client_key, client_public = _client_key(plan) if plan.via == "ssh" else (None, None)
        settings = _settings(plan, booter, ip, client_public)
        debugfs.write_files(plan.root, render_guest_files(settings, BUSYBOX))
        spec = _spec(plan, tap, settings.mac)
        backend.check_spec(spec, plan.boot.caps)
        reporter.stage(f"boot builder ({backend.name}, {plan.accel}, steps via {plan.via})")
        handle = backend.start(spec)
        undo.callback(backend.kill, handle)  # a no-op once the VMM exited by itself
        reporter.on_cancel(lambda: backend.kill(handle))
        watch = booter.watch(spec.console_log, plan.accel)
        if client_key is None or client_public is None:
            return _follow(plan, backend, handle, reporter, watch)
        transcript = Transcript(nonce=plan.nonce, steps=len(plan.steps))
        build_ssh.run_over_ssh(
            ip=str(ip),
            host_key_public=settings.host_key_public,
            client_key=client_key,
            client_public_key=client_public,
            build_device=BUILD_DEVICE,
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
        if watch.panic_line is not None:
            raise watch.panicked()
        limit = watch.stall_limit()
        if watch.silent_for() > limit:
            raise watch.stalled()
    except BootFailed:
        for line in watch.tail:
            reporter.log(f"console: {line}")
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
        exited = backend.status(handle) == "stopped"
        while data := watch.poll():
            for event in transcript.feed(data):
                _report(plan, event, reporter)
            if not exited:
                break  # read the rest on the next round; once exited, read it all now
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
