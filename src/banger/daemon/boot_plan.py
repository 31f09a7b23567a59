"""Booting a guest as one list of named steps, shared by VMs and image builders.

Like firecracker-go-sdk's handler lists: `vm create` and `image build` run the same steps
(network → lease → tap → port guard → guest settings → spec → start); what differs between
them is data in the `GuestBoot` (lease owner, network peers, drives, kernel arguments, guest
settings extras), not a second copy of the sequence. Each step registers its undo on the
caller's ExitStack the moment its resource exists, so a failure anywhere unwinds exactly
what was acquired, in reverse, once. Readiness (sshd, or the builder's steps) is the
caller's business.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from banger.daemon.boot_set import BootSet
from banger.daemon.leases import Leases
from banger.disks import debugfs
from banger.errors import BangerError
from banger.guest import GuestSettings, console_log, kernel_cmdline, render_guest_files
from banger.guest.render import HOST_BUSYBOX
from banger.network import (
    GuardedPort,
    NetworkConfig,
    create_tap,
    delete_tap,
    ensure_bridge,
    ensure_guard,
    ensure_nat,
    guard_port,
    host_dns_servers,
    tap_name,
    unguard_port,
)
from banger.ops.reporter import Reporter
from banger.vmm import Backend, Drive, NetIf, VMHandle, VMSpec

GUEST_VSOCK_CID = 3  # 0-2 are reserved (hypervisor, local, host)


@dataclass(frozen=True)
class GuestBoot:
    """Everything one boot needs, as data: the VM plan and the builder plan differ only here."""

    guest_id: str  # names the tap and the VMM's spec
    hostname: str
    lease_owner: str
    mac: str
    run_dir: Path  # sockets, pidfile
    console_log: Path
    root_disk: Path
    extra_drives: tuple[Drive, ...]  # after the root disk, in device order
    cpus: int
    memory_mib: int
    boot: BootSet
    accel: str
    host_key_private: str
    host_key_public: str
    authorized_keys: tuple[str, ...] = ()
    work_drive_id: str | None = None  # the drive the guest mounts at /work, if any
    guest_extra: dict[str, str] = field(default_factory=dict)
    cmdline_extra: tuple[str, ...] = ()
    # Whose VMs this guest may reach on the bridge (their owner uid); None: no other VM.
    network_peers_of: int | None = None


@dataclass
class Booted:
    """What the steps acquired, filled in as they run."""

    ip: IPv4Address | None = None
    tap: str | None = None
    settings: GuestSettings | None = None
    spec: VMSpec | None = None
    handle: VMHandle | None = None


@dataclass(frozen=True)
class Step:
    name: str
    do: Callable[[BootRun], Callable[[], None] | None]  # returns its undo, if any


@dataclass
class BootRun:
    guest: GuestBoot
    backend: Backend
    net: NetworkConfig
    leases: Leases
    dns: list[str]
    state: Booted = field(default_factory=Booted)


def run_steps(
    steps: list[Step], run: BootRun, undo: contextlib.ExitStack, reporter: Reporter
) -> Booted:
    """Run each step in order, reporting its name; undos go onto `undo` as they appear."""
    for step in steps:
        reporter.stage(step.name)
        reporter.check_cancelled()
        rollback = step.do(run)
        if rollback is not None:
            undo.callback(rollback)
    return run.state


# -- the steps -------------------------------------------------------------------------------
def _network(run: BootRun) -> None:
    ensure_bridge(run.net)  # ip link add NAME type bridge; ip addr add GW/PREFIX dev NAME
    ensure_nat(run.net)  # nft -f - (table ip banger { postrouting masquerade ... })
    ensure_guard(run.net)  # nft -f - (table bridge banger: anti-spoofing, owner isolation)


def _lease(run: BootRun) -> Callable[[], None]:
    run.state.ip = run.leases.acquire(run.guest.lease_owner, run.net)
    return lambda: run.leases.release(run.guest.lease_owner)


def _tap(run: BootRun) -> Callable[[], None]:
    tap = tap_name(run.guest.guest_id)
    # ip tuntap add dev TAP mode tap [user UID]; ip link set TAP master BR up
    create_tap(tap, run.net.bridge, owner=run.backend.tap_owner)
    run.state.tap = tap
    return lambda: delete_tap(tap)  # ip link del TAP


def _port_guard(run: BootRun) -> Callable[[], None]:
    tap, ip = run.state.tap, run.state.ip
    if tap is None or ip is None:
        raise BangerError("the port guard needs a tap and a lease", code="internal")
    port = GuardedPort(tap=tap, mac=run.guest.mac, ip=ip, owner=run.guest.network_peers_of)
    guard_port(run.net, port)  # nft add element bridge banger ports { TAP . MAC . IP } ...
    return lambda: unguard_port(run.net, tap)  # nft delete element ... (gone already is fine)


def _drives(run: BootRun) -> list[Drive]:
    return [Drive(id="root", path=run.guest.root_disk), *run.guest.extra_drives]


def _guest_settings(run: BootRun) -> None:
    guest, ip = run.guest, run.state.ip
    if ip is None:
        raise BangerError("guest settings need a lease", code="internal")
    work_device = None
    if guest.work_drive_id is not None:
        index = [d.id for d in _drives(run)].index(guest.work_drive_id)
        work_device = run.backend.guest_drive_device(index)
    settings = GuestSettings(
        hostname=guest.hostname,
        mac=guest.mac,
        ip=IPv4Interface(f"{ip}/{run.net.subnet.prefixlen}"),
        gateway=run.net.gateway,
        dns=[IPv4Address(d) for d in run.dns] or host_dns_servers(),
        authorized_keys=list(guest.authorized_keys),
        host_key_private=guest.host_key_private,
        host_key_public=guest.host_key_public,
        work_device=work_device,
        extra=guest.guest_extra,
    )  # type: ignore[arg-type]
    # Written into the guest's own root disk before the VMM opens it (docs/guest.md).
    debugfs.write_files(guest.root_disk, render_guest_files(settings, HOST_BUSYBOX))
    run.state.settings = settings


def _spec(run: BootRun) -> None:
    guest, tap = run.guest, run.state.tap
    if tap is None:
        raise BangerError("the VM spec needs a tap", code="internal")
    spec = VMSpec(
        vm_id=guest.guest_id,
        name=guest.hostname,
        vm_dir=guest.run_dir,
        cpus=guest.cpus,
        memory_mib=guest.memory_mib,
        kernel=guest.boot.kernel,
        initrd=guest.boot.initrd,
        cmdline=kernel_cmdline(extra=list(guest.cmdline_extra)),
        drives=_drives(run),
        net=NetIf(tap=tap, mac=guest.mac),
        console_log=guest.console_log,
        accel=run.backend.effective_accel(guest.accel),
        vsock_cid=GUEST_VSOCK_CID if run.backend.has_vsock else None,
    )  # type: ignore[arg-type]
    run.backend.check_spec(spec, guest.boot.caps)
    run.state.spec = spec


def _start(run: BootRun) -> Callable[[], None]:
    spec = run.state.spec
    if spec is None:
        raise BangerError("start needs a spec", code="internal")
    console_log.remove(spec.console_log)  # a fresh console per boot (and its trim count)
    handle = run.backend.start(spec)
    run.state.handle = handle
    return lambda: run.backend.kill(handle)  # a no-op once the VMM exited by itself


def boot_steps(backend_name: str) -> list[Step]:
    """The boot of any guest; the names are what `banger ops` shows."""
    return [
        Step("network", _network),
        Step("lease an address", _lease),
        Step("tap", _tap),
        Step("port guard", _port_guard),
        Step("guest settings", _guest_settings),
        Step("VM spec", _spec),
        Step(f"start {backend_name}", _start),
    ]
