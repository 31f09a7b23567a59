"""Booting and releasing one VM through the shared boot plan (daemon/boot_plan.py).

Each start writes the guest settings afresh (address, keys, hostname) into the VM's own
root disk before the VMM opens it: the guest contract of docs/guest.md.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from banger.api.models import VM
from banger.daemon.boot_plan import BootRun, GuestBoot, boot_steps, run_steps
from banger.daemon.boot_set import BootSet
from banger.daemon.leases import Leases
from banger.guest.boot_watch import ConsoleWatch, StallLimits
from banger.network import NetworkConfig, delete_tap, tap_name
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

    def watch(self, console: Path, accel: str) -> ConsoleWatch:
        """A watch on a guest that has just started (see guest.boot_watch)."""
        return ConsoleWatch(console, self.stall, accel=accel)

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

    def release(self, vm: VM) -> None:
        """Give back what a running VM held on the host: its tap and its address."""
        delete_tap(vm.tap or tap_name(vm.id))  # ip link del TAP (gone already is fine)
        self.leases.release(vm.id)
