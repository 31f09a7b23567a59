"""VM service: the lifecycle verbs, each serialized per VM, each rolling back on failure."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from banger.api.models import VM, Image, Operation, PullProvenance, VMState
from banger.api.requests import VMCreate
from banger.daemon.boot_set import boot_set, managed_kernel_file, probe_kernel
from banger.daemon.images import ImageService
from banger.daemon.owners import Access, Actor
from banger.daemon.scoped import Scoped
from banger.daemon.vm_boot import Booter
from banger.daemon.vm_disks import choose_strategy, provision_disks, remove_vm_dir
from banger.daemon.vm_host import HostPolicy
from banger.doctor import KvmVerdict
from banger.errors import BootFailed, Conflict, FailedPrecondition, InvalidArgument
from banger.guest import generate_host_keypair
from banger.guest.ready import wait_for_ssh
from banger.names import validate_name
from banger.network import mac_for
from banger.ops.manager import OperationManager, OperationReporter
from banger.ops.reporter import Reporter
from banger.store import KernelStore, StateLayout, VMStore
from banger.vmm import ProcessState, VMHandle

log = logging.getLogger("banger.daemon.vms")


def _now() -> datetime:
    return datetime.now(UTC)


class VMService:
    def __init__(
        self,
        layout: StateLayout,
        vms: VMStore,
        kernels: KernelStore,
        images: ImageService,
        ops: OperationManager,
        booter: Booter,
        host: HostPolicy,
        clone_strategy: str,
        defaults: tuple[int, int],
    ) -> None:
        self.layout, self.vms, self.kernels, self.images, self.ops = (
            layout,
            vms,
            kernels,
            images,
            ops,
        )
        self.booter, self.host, self.clone_strategy = booter, host, clone_strategy
        self.default_cpus, self.default_memory = defaults
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.scope = Scoped(vms, "vm")

    # -- lookups -------------------------------------------------------------------
    def get(self, key: str) -> VM:
        """Whoever owns it: for the daemon's own work (requests go through `find`)."""
        vm = self.vms.get(key)
        if vm is None:
            raise self.scope.not_found(key)
        return vm

    def find(self, key: str, actor: Actor) -> VM:
        """The VM `key` names if it is `actor`'s (VMs are never shared: anyone else's is
        reported as not found, whatever they want to do with it)."""
        return self.scope.find(key, actor, Access.MANAGE)

    def list(self, actor: Actor) -> list[VM]:
        return self.scope.visible(actor)

    def lock(self, vm_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(vm_id, threading.Lock())

    def handle(self, vm: VM) -> VMHandle | None:
        raw = self.vms.handle(vm.id)
        return VMHandle.model_validate_json(raw) if raw else None

    def _save(self, vm: VM, handle: VMHandle | None = None, *, clear_handle: bool = False) -> VM:
        self.vms.update(vm)
        if handle is not None:
            self.vms.set_handle(vm.id, handle.model_dump_json())
        elif clear_handle:
            self.vms.set_handle(vm.id, None)
        return vm

    def probe_kernel(self) -> Path | None:
        """The kernel doctor proves KVM with: the newest managed one (setup's default)."""
        kernels = sorted(self.kernels.list(), key=lambda k: k.created_at)
        for kernel in reversed(kernels):
            path = managed_kernel_file(kernel, "qemu")
            if path.is_file():
                return path
        return None

    # -- create ----------------------------------------------------------------------
    def start_create(self, req: VMCreate, actor: Actor) -> Operation:
        if not req.image:
            raise InvalidArgument(
                "no image given and no default_image_name configured",
                hint="pass --image NAME, or set default_image_name in ~/.config/banger/config.toml",
            )
        image = self.images.find(req.image, actor)
        pulled = image.provenance if isinstance(image.provenance, PullProvenance) else None
        if req.wait and pulled is not None and not pulled.has_sshd:
            raise FailedPrecondition(
                f"image '{image.name}' has no SSH server, so --wait would never return",
                hint=f"add one: banger image build --from-image {image.name} --name "
                f"{image.name}-ssh --run 'apt-get update && apt-get install -y openssh-server'",
            )
        name = validate_name("VM", req.name) if req.name else f"vm-{secrets.token_hex(3)}"
        self.scope.ensure_free(name, actor)
        kernel = self.kernels.get(image.kernel) if image.kernel else None
        backend = self.host.backend(req.backend, probe_kernel(image, kernel))
        self.host.require_kvm_for(backend, probe_kernel(image, kernel))  # before any record
        vm_id = secrets.token_hex(8)
        vm = VM(
            id=vm_id,
            name=name,
            owner_uid=actor.uid,
            state=VMState.CREATED,
            backend=backend.name,
            image=image.name,
            kernel=kernel.name if kernel else None,
            mac=mac_for(vm_id),
            cpus=req.cpus or self.default_cpus,
            memory_mib=req.memory_mib or self.default_memory,
            authorized_keys=[req.ssh_public_key.strip()] if req.ssh_public_key else [],
            created_at=_now(),
        )
        with self.vms.db.transaction() as conn:
            self.vms.insert(vm, keys={"image_id": image.id}, conn=conn)
        create = functools.partial(self._create, vm, image, req)
        return self.ops.start("vm.create", name, create, owner_uid=actor.uid)

    def _create(
        self, vm: VM, image: Image, req: VMCreate, reporter: OperationReporter
    ) -> dict[str, Any]:
        """The operation behind `vm create`: disks, host key, then (optionally) the boot."""
        with self.lock(vm.id), contextlib.ExitStack() as undo:
            undo.callback(self._forget, vm)
            vm_dir = self.layout.vm(vm.id)
            vm_dir.path.mkdir(mode=0o700)
            undo.callback(remove_vm_dir, vm_dir.path)
            strategy = choose_strategy(self.clone_strategy, self.layout.vms)
            disk_size = req.disk_size_mib * 2**20 if req.disk_size_mib else None
            size, work_disk = provision_disks(image, vm_dir, strategy, disk_size, reporter)
            reporter.stage("host key")
            private, public = generate_host_keypair(self.layout.tmp)
            fd = os.open(vm_dir.host_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as key:
                key.write(private)
            created = vm.model_copy(
                update={
                    "disk_strategy": strategy,
                    "disk_size_bytes": size,
                    "work_disk": work_disk,
                    "ssh_host_key": public,
                    "state": VMState.STOPPED,
                }
            )
            self._save(created)
            if req.start:
                created = self._boot(created, reporter, wait=req.wait)
            undo.pop_all()
            return created.model_dump(mode="json")

    def _forget(self, vm: VM) -> None:
        self.booter.leases.release(vm.id)
        self.vms.delete(vm.id)

    # -- start / stop ----------------------------------------------------------------
    def _boot(self, vm: VM, reporter: Reporter, *, wait: bool) -> VM:
        image = self.images.get(vm.image)
        kernel = self.kernels.get(vm.kernel) if vm.kernel else None
        backend = self.host.backend(vm.backend)
        self.host.require_kvm_for(backend, probe_kernel(image, kernel), reporter)
        accel = self.host.accel(reporter, probe_kernel(image, kernel))
        boot = boot_set(image, kernel, backend.name)
        vm_dir = self.layout.vm(vm.id)
        self._save(vm.model_copy(update={"state": VMState.STARTING, "reason": None}))
        try:
            started, handle = self.booter.start(vm, vm_dir, boot, backend, accel, reporter)
        except BaseException as exc:
            self._save(
                vm.model_copy(update={"state": VMState.STOPPED, "reason": f"start failed: {exc}"})
            )
            raise
        running = self._save(
            started.model_copy(
                update={"state": VMState.RUNNING, "started_at": _now(), "stopped_at": None}
            ),
            handle,
        )
        if wait:
            reporter.stage("wait for ssh")
            watch = self.booter.watch(handle.console_log, running.accel or accel, backend.name)
            try:
                seconds = wait_for_ssh(
                    running.ip or "",
                    timeout=self.booter.ready_timeout,
                    alive=lambda: backend.status(handle) is ProcessState.RUNNING,
                    watch=watch,
                    check_cancelled=reporter.check_cancelled,
                )
            except BaseException as exc:
                if isinstance(exc, BootFailed):
                    watch.report_tail(reporter.log)
                self._halt(running, force=True, reason=f"not ready: {exc}")
                raise
            reporter.log(f"sshd answered {seconds:.1f} s after the VMM started")
        return running

    def _halt(self, vm: VM, *, force: bool, reason: str | None = None) -> VM:
        handle = self.handle(vm)
        if handle is not None:
            backend = self.host.backend(handle.backend)
            if force:
                backend.kill(handle)
            else:
                self._save(vm.model_copy(update={"state": VMState.STOPPING}))
                backend.stop(handle, timeout=60)
        return self._record_stopped(vm, reason)

    def _verb(
        self, kind: str, key: str, actor: Actor, action: Callable[[VM, OperationReporter], VM]
    ) -> Operation:
        """Run `action` on the VM's current record as a tracked operation, under its lock."""
        vm = self.find(key, actor)

        def work(reporter: OperationReporter) -> dict[str, Any]:
            with self.lock(vm.id):
                return action(self.get(vm.id), reporter).model_dump(mode="json")

        return self.ops.start(kind, vm.name, work, owner_uid=actor.uid)

    def start_start(self, key: str, wait: bool, actor: Actor) -> Operation:
        def start(current: VM, reporter: OperationReporter) -> VM:
            if current.state is VMState.RUNNING:
                raise Conflict(f"VM '{current.name}' is already running", hint="nothing to do")
            return self._boot(current, reporter, wait=wait)

        return self._verb("vm.start", key, actor, start)

    def start_stop(self, key: str, force: bool, actor: Actor) -> Operation:
        def stop(current: VM, reporter: OperationReporter) -> VM:
            if current.state is VMState.STOPPED:
                return current
            reporter.stage("kill" if force else "shut down")
            return self._halt(current, force=force)

        return self._verb("vm.stop", key, actor, stop)

    def start_restart(self, key: str, wait: bool, actor: Actor) -> Operation:
        def restart(current: VM, reporter: OperationReporter) -> VM:
            if current.state is not VMState.STOPPED:
                reporter.stage("shut down")
                current = self._halt(current, force=False)
            return self._boot(current, reporter, wait=wait)

        return self._verb("vm.restart", key, actor, restart)

    def delete(self, key: str, force: bool, actor: Actor) -> VM:
        vm = self.find(key, actor)
        with self.lock(vm.id):
            current = self.get(vm.id)
            if current.is_active:
                if not force:
                    raise Conflict(
                        f"VM '{vm.name}' is {current.state}",
                        hint=f"stop it first (banger vm stop {vm.name}) or use --force",
                    )
                current = self._halt(current, force=True)
            self.booter.release(current)
            remove_vm_dir(self.layout.vm_dir(vm.id))
            self.vms.delete(vm.id)
        return current

    # -- health ----------------------------------------------------------------------
    def all_vms(self) -> list[VM]:
        """Every VM, whoever owns it: for the daemon's own bookkeeping (the monitor)."""
        return self.vms.list()

    def reattach(self, handle: VMHandle) -> bool:
        """After a daemon restart: take back the VMM `handle` names, if it still runs."""
        return self.host.backend(handle.backend).reattach(handle)

    def notice_dead_vmm(self, vm_id: str) -> None:
        """Record a running VM whose VMM has exited as stopped (the monitor's check); a VM a
        lifecycle verb is working on is left to that verb."""
        lock = self.lock(vm_id)
        if not lock.acquire(blocking=False):
            return
        try:
            current = self.vms.get(vm_id)
            handle = self.handle(current) if current else None
            if current is None or current.state is not VMState.RUNNING or handle is None:
                return
            if self.host.backend(handle.backend).status(handle) is not ProcessState.RUNNING:
                self.mark_dead(current, "the VMM process exited unexpectedly")
        finally:
            lock.release()

    def kvm_verdict(self) -> KvmVerdict:
        """Whether KVM runs guests here, proven with the kernel `probe_kernel` picks."""
        return self.host.kvm_verdict(self.probe_kernel())

    def reconcile_guards(self, running: list[VM]) -> None:
        """After a restart: port-guard elements for exactly these running VMs."""
        self.booter.reconcile_guards(running)

    def teardown_network(self) -> str:
        """Remove the bridge and NAT table all VMs share; refused while any VM is active.
        Returns the bridge's name."""
        running = [vm.name for vm in self.vms.list() if vm.is_active]
        if running:
            raise Conflict(
                f"VMs are still running: {', '.join(running)}",
                hint="stop them first: banger vm stop NAME",
            )
        return self.booter.remove_network()

    def mark_dead(self, vm: VM, reason: str) -> None:
        """The VMM is gone without us: record why and give back its tap and address."""
        log.warning("VM %s: %s", vm.name, reason)
        self._record_stopped(vm, reason)

    def _record_stopped(self, vm: VM, reason: str | None) -> VM:
        """Give back the tap and address a VM held and record it as stopped, and why."""
        self.booter.release(vm)
        update = {
            "state": VMState.STOPPED,
            "pid": None,
            "ip": None,
            "tap": None,
            "stopped_at": _now(),
            "reason": reason,
        }
        return self._save(vm.model_copy(update=update), clear_handle=True)

    def console(self, key: str, actor: Actor) -> tuple[str, Path]:
        """(VM id, console log) of `actor`'s VM `key`."""
        vm = self.find(key, actor)
        return vm.id, self.layout.vm(vm.id).console_log
