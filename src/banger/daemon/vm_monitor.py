"""Keep VM records true: reattach after a daemon restart, notice VMMs that die."""

from __future__ import annotations

import logging

from banger.api.models import VMState
from banger.daemon.ticker import Ticker
from banger.daemon.vms import VMService
from banger.network import delete_tap, list_banger_taps, tap_name

log = logging.getLogger("banger.daemon.vms")
POLL_SECONDS = 1.0


def reconcile(vms: VMService) -> None:
    """At start-up: reattach VMs whose VMM still runs; release what the dead ones held."""
    for vm in vms.all_vms():
        handle = vms.handle(vm)
        if vm.is_active and handle is not None:
            if vms.reattach(handle):
                log.info("reattached VM %s (pid %d)", vm.name, handle.pid)
                continue
            vms.mark_dead(vm, "the VMM exited while the daemon was down")
        elif vm.state is not VMState.STOPPED:
            vms.mark_dead(vm, "interrupted by a daemon restart")
    # A tap no running VM owns is a leak from a crash mid-create: remove it.
    records = vms.all_vms()
    owned = {tap_name(vm.id) for vm in records if vm.state is VMState.RUNNING}
    known = {tap_name(vm.id) for vm in records}
    for tap in list_banger_taps():
        if tap in known and tap not in owned:
            delete_tap(tap)
    # Guard elements for exactly the running VMs: those of dead VMs and builders go.
    vms.reconcile_guards([vm for vm in records if vm.state is VMState.RUNNING])


class Monitor(Ticker):
    """Every second, check each running VM's VMM is still the process we started."""

    def __init__(self, vms: VMService) -> None:
        self.vms = vms
        super().__init__("vm-monitor", POLL_SECONDS, self.check_once)

    def check_once(self) -> None:
        for vm in self.vms.all_vms():
            if vm.state is VMState.RUNNING:
                self.vms.notice_dead_vmm(vm.id)
