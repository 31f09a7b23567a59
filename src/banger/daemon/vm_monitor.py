"""Keep VM records true: reattach after a daemon restart, notice VMMs that die."""

from __future__ import annotations

import logging
import threading

from banger.api.models import VMState
from banger.daemon.build_vm import BUILDER_LEASE_PREFIX
from banger.daemon.vms import VMService
from banger.network import delete_tap, list_banger_taps, tap_name
from banger.vmm import ProcessState

log = logging.getLogger("banger.daemon.vms")
POLL_SECONDS = 1.0


def reconcile(vms: VMService) -> None:
    """At start-up: reattach VMs whose VMM still runs; release what the dead ones held."""
    for vm in vms.vms.list():
        handle = vms.handle(vm)
        if vm.is_active and handle is not None:
            backend = vms.host.backend(handle.backend)
            if backend.reattach(handle):
                log.info("reattached VM %s (pid %d)", vm.name, handle.pid)
                continue
            vms.mark_dead(vm, "the VMM exited while the daemon was down")
        elif vm.state is not VMState.STOPPED:
            vms.mark_dead(vm, "interrupted by a daemon restart")
    # No build survives a restart: give back what interrupted builders held.
    for owner in vms.booter.leases.owners(BUILDER_LEASE_PREFIX):
        delete_tap(tap_name(owner.removeprefix(BUILDER_LEASE_PREFIX)))
        vms.booter.leases.release(owner)
    # A tap no running VM owns is a leak from a crash mid-create: remove it.
    owned = {tap_name(vm.id) for vm in vms.vms.list() if vm.state is VMState.RUNNING}
    known = {tap_name(vm.id) for vm in vms.vms.list()}
    for tap in list_banger_taps():
        if tap in known and tap not in owned:
            delete_tap(tap)


class Monitor:
    """Every second, check each running VM's VMM is still the process we started."""

    def __init__(self, vms: VMService) -> None:
        self.vms = vms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vm-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.check_once()
            except Exception:  # the monitor must outlive any one bad record
                log.exception("VM monitor pass failed")

    def check_once(self) -> None:
        for vm in self.vms.vms.list():
            if vm.state is not VMState.RUNNING:
                continue
            lock = self.vms.lock(vm.id)
            if not lock.acquire(blocking=False):
                continue  # a lifecycle verb is working on it
            try:
                current = self.vms.vms.get(vm.id)
                handle = self.vms.handle(current) if current else None
                if current is None or current.state is not VMState.RUNNING or handle is None:
                    continue
                if self.vms.host.backend(handle.backend).status(handle) is not ProcessState.RUNNING:
                    self.vms.mark_dead(current, "the VMM process exited unexpectedly")
            finally:
                lock.release()
