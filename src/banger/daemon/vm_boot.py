"""Booting and releasing one VM through the shared boot plan (daemon/boot_plan.py).

Each start writes the guest settings afresh (address, keys, hostname) into the VM's own
root disk before the VMM opens it: the guest contract of docs/guest.md.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from banger.api.models import VM
from banger.daemon.boot_plan import BootRun, GuestBoot, boot_steps, run_steps
from banger.daemon.boot_set import BootSet
from banger.daemon.leases import Leases
from banger.guest.boot_watch import ConsoleWatch, StallLimits
from banger.network import (
    GuardedPort,
    NetworkConfig,
    delete_tap,
    ensure_guard,
    ensure_nat,
    guard_port,
    guarded_taps,
    remove_bridge,
    remove_guard,
    remove_nat,
    tap_name,
    unguard_port,
)
from banger.ops.reporter import Reporter
from banger.store.layout import VMDir
from banger.vmm import Backend, Drive, VMHandle

log = logging.getLogger("banger.daemon.vms")


@dataclass
class Booter:
    net: NetworkConfig
    dns: list[str]
    leases: Leases
    stall: StallLimits = field(default_factory=StallLimits)
    ready_timeout: float = 300.0

    def watch(self, console: Path, accel: str, vmm: str = "qemu") -> ConsoleWatch:
        """A watch on a guest that has just started (see guest.boot_watch)."""
        return ConsoleWatch(console, self.stall, accel=accel, vmm=vmm)

    def run(
        self,
        guest: GuestBoot,
        backend: Backend,
        undo: contextlib.ExitStack,
        reporter: Reporter,
    ) -> BootRun:
        """Run the boot plan; every acquisition's undo lands on `undo` (the caller's)."""
        run = BootRun(guest=guest, backend=backend, net=self.net, leases=self.leases, dns=self.dns)
        run_steps(boot_steps(backend.name), run, undo, reporter)
        return run

    def start(
        self, vm: VM, vm_dir: VMDir, boot: BootSet, backend: Backend, accel: str, reporter: Reporter
    ) -> tuple[VM, VMHandle]:
        """Lease an address, make the tap, write the guest settings, start the VMM."""
        extra = (Drive(id="work", path=vm_dir.work_disk),) if vm.work_disk else ()
        guest = GuestBoot(
            guest_id=vm.id,
            hostname=vm.name,
            lease_owner=vm.id,
            mac=vm.mac,
            run_dir=vm_dir.path,
            console_log=vm_dir.console_log,
            root_disk=vm_dir.root_disk,
            extra_drives=extra,
            work_drive_id="work" if vm.work_disk else None,
            cpus=vm.cpus,
            memory_mib=vm.memory_mib,
            boot=boot,
            accel=accel,
            host_key_private=vm_dir.host_key.read_text(),
            host_key_public=vm.ssh_host_key or "",
            authorized_keys=tuple(vm.authorized_keys),
            network_peers_of=vm.owner_uid,  # on the bridge it reaches its owner's VMs only
        )
        with contextlib.ExitStack() as undo:
            run = self.run(guest, backend, undo, reporter)
            undo.pop_all()
        state = run.state
        assert state.handle is not None and state.spec is not None
        started = vm.model_copy(
            update={
                "ip": str(state.ip),
                "tap": state.tap,
                "pid": state.handle.pid,
                "accel": state.spec.accel,
            }
        )
        return started, state.handle

    def release_leases(self, owner_prefix: str) -> None:
        """Give back the tap and address of every guest whose lease owner starts with
        `owner_prefix` (guests no daemon watches any more: builders cut off by a restart)."""
        for owner in self.leases.owners(owner_prefix):
            tap = tap_name(owner)  # a lease's owner is its guest's id, as the tap's name
            unguard_port(self.net, tap)  # nft delete element bridge banger ... (gone is fine)
            delete_tap(tap)
            self.leases.release(owner)

    def remove_network(self) -> str:
        """Remove the bridge and NAT table the guests share (none may be running); returns
        the bridge's name."""
        remove_nat(self.net)  # nft delete table ip banger
        remove_guard(self.net)  # nft delete table bridge banger
        remove_bridge(self.net)  # ip link del banger0
        return self.net.bridge

    def release(self, vm: VM) -> None:
        """Give back what a running VM held on the host: its guard, tap and address."""
        tap = vm.tap or tap_name(vm.id)
        unguard_port(self.net, tap)  # nft delete element bridge banger ... (gone is fine)
        delete_tap(tap)  # ip link del TAP (gone already is fine)
        self.leases.release(vm.id)

    def reconcile_guards(self, running: list[VM]) -> None:
        """At daemon start: the host rules again, and guard elements for exactly the VMs that
        still run (a table flushed meanwhile would otherwise leave them unguarded until the
        next boot, and a crash mid-delete would leave a stale address allowed)."""
        if running:
            ensure_nat(self.net)  # nft -f - (table ip banger)
            ensure_guard(self.net)  # nft -f - (table bridge banger; elements kept)
        keep = {vm.tap or tap_name(vm.id) for vm in running}
        for tap in guarded_taps(self.net):
            if tap not in keep:
                unguard_port(self.net, tap)
        for vm in running:
            if vm.ip and vm.mac:
                tap = vm.tap or tap_name(vm.id)
                guard_port(self.net, GuardedPort(tap, vm.mac, IPv4Address(vm.ip), vm.owner_uid))
