"""The QEMU backend: microvm + virtio-mmio, KVM where usable, TCG otherwise."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from banger import proc
from banger.errors import (
    BootFailed,
    CommandFailed,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)
from banger.vmm import process
from banger.vmm.base import Accel, KernelCaps, ProcessState, VMHandle, VMSpec, virtio_blk_device
from banger.vmm.qemu.argv import pidfile_path, qemu_argv, qmp_socket_path, read_host_tsc_khz
from banger.vmm.qemu.qmp import QmpClient

_QMP_WAIT_SECONDS = 10.0
_TERM_WAIT_SECONDS = 5.0
_KVM_HINT = (
    "this host's KVM may not run standard guests (see banger doctor); set "
    'accel = "auto" or "tcg" in /etc/banger/config.toml'
)


def _cmdline_marker(handle: VMHandle) -> str:
    # The QMP socket path is in QEMU's argv (commas doubled), and unique per VM.
    return str(handle.api_socket).replace(",", ",,")


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise InvalidArgument(f"{what} {path} does not exist", hint=f"re-import the {what}")


class QemuBackend:
    name = "qemu"
    # QEMU's vsock is vhost-vsock: host-unique CIDs and a vhost_vsock module (absent on the
    # hosts banger targets first), so QEMU guests get none for now.
    has_vsock = False
    tap_owner: int | None = None  # QEMU runs as root: its taps need no owner

    def __init__(self, qemu_bin: str = "qemu-system-x86_64") -> None:
        self.qemu_bin = qemu_bin

    def guest_drive_device(self, index: int) -> str:
        return virtio_blk_device(index)

    def effective_accel(self, requested: Accel) -> Accel:
        return requested

    def check_spec(self, spec: VMSpec, caps: KernelCaps) -> None:
        _require_file(spec.kernel, "kernel")
        if spec.initrd is not None:
            _require_file(spec.initrd, "initrd")
        for drive in spec.drives:
            _require_file(drive.path, f"drive '{drive.id}'")
        if spec.accel == "kvm" and not Path("/dev/kvm").exists():
            raise FailedPrecondition(
                "QEMU with accel=kvm needs /dev/kvm, which this host lacks",
                hint="use accel=tcg (slow software emulation) or enable KVM on the host",
            )
        has_devices = bool(spec.drives) or spec.net is not None
        if has_devices and caps.virtio_mmio == "absent":
            raise FailedPrecondition(
                "the kernel has no virtio-mmio driver, which QEMU's microvm machine needs",
                hint="use a kernel built with CONFIG_VIRTIO_MMIO=y or =m",
            )
        if has_devices and caps.virtio_mmio == "module" and spec.initrd is None:
            raise FailedPrecondition(
                "the kernel's virtio-mmio driver is a module but no initrd loads it",
                hint="boot with the initrd generated for this kernel",
            )
        if spec.vsock_cid is not None and not Path("/dev/vhost-vsock").exists():
            raise FailedPrecondition(
                "vsock under QEMU needs /dev/vhost-vsock, which this host lacks",
                hint="load the vhost_vsock module on the host, or create the VM without vsock",
            )

    def start(self, spec: VMSpec) -> VMHandle:
        qmp_path, pidfile = qmp_socket_path(spec), pidfile_path(spec)
        for stale in (qmp_path, pidfile):
            stale.unlink(missing_ok=True)
        tsc_khz = read_host_tsc_khz() if spec.accel == "tcg" else None
        argv = qemu_argv(spec, proc.which(self.qemu_bin), tsc_khz)
        # -daemonize: QEMU forks into its own session once the VM is set up, so a bad
        # option or a missing tap fails *here* with QEMU's own words (CommandFailed).
        try:
            proc.run(
                argv, timeout=60, hint=f"see the QEMU command line in the log of VM {spec.name}"
            )
        except CommandFailed as exc:
            if spec.accel == "kvm":
                raise BootFailed(
                    f"QEMU could not start the guest under KVM: {exc.message}", hint=_KVM_HINT
                ) from None
            raise
        with contextlib.ExitStack() as undo:
            pid = self._read_pid(pidfile)
            ident = process.identify(pid)
            if ident is None or not Path(ident.exe).name.startswith("qemu-system"):
                under = " under KVM" if spec.accel == "kvm" else ""
                raise BootFailed(
                    f"QEMU for VM {spec.name} exited{under} right after starting",
                    hint=_KVM_HINT if under else f"read the console log {spec.console_log}",
                )
            handle = VMHandle(
                backend=self.name,
                vm_id=spec.vm_id,
                pid=pid,
                start_time=ident.start_time,
                exe=ident.exe,
                api_socket=qmp_path,
                console_log=spec.console_log,
            )
            undo.callback(self.kill, handle)
            self._wait_for_qmp(handle)
            undo.pop_all()
        return handle

    @staticmethod
    def _read_pid(pidfile: Path) -> int:
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError) as exc:
            raise Unavailable(
                f"QEMU did not write a valid pidfile {pidfile}",
                hint="QEMU may have crashed during start-up; run it by hand to see why",
            ) from exc

    def _wait_for_qmp(self, handle: VMHandle) -> None:
        deadline = time.monotonic() + _QMP_WAIT_SECONDS
        while True:
            try:
                with QmpClient(handle.api_socket) as qmp:
                    qmp.query_status()
                return
            except Unavailable:
                if self.status(handle) is ProcessState.STOPPED or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def stop(self, handle: VMHandle, timeout: float = 30.0) -> None:
        marker = _cmdline_marker(handle)
        if self.status(handle) is ProcessState.STOPPED:
            return
        with contextlib.suppress(Unavailable), QmpClient(handle.api_socket) as qmp:
            qmp.system_powerdown()
        if process.wait_gone(handle.pid, handle.start_time, handle.exe, marker, timeout):
            return
        process.terminate(
            handle.pid, handle.start_time, handle.exe, marker, term_timeout=_TERM_WAIT_SECONDS
        )

    def kill(self, handle: VMHandle) -> None:
        marker = _cmdline_marker(handle)
        process.kill_now(handle.pid, handle.start_time, handle.exe, marker)

    def status(self, handle: VMHandle) -> ProcessState:
        alive = process.is_same_process(
            handle.pid, handle.start_time, handle.exe, _cmdline_marker(handle)
        )
        return ProcessState.RUNNING if alive else ProcessState.STOPPED

    def reattach(self, handle: VMHandle) -> bool:
        if self.status(handle) is not ProcessState.RUNNING:
            return False
        try:
            with QmpClient(handle.api_socket) as qmp:
                qmp.query_status()
        except Unavailable:
            return False
        return True
