"""The Firecracker backend: spawn `firecracker --api-sock`, configure over the API, boot."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from banger.errors import BangerError, FailedPrecondition, InvalidArgument, Unavailable
from banger.vmm import process
from banger.vmm.base import Accel, KernelCaps, ProcessState, VMHandle, VMSpec, virtio_blk_device
from banger.vmm.firecracker.api import FirecrackerApi
from banger.vmm.firecracker.payloads import action_payload, boot_requests, runtime_paths

_SOCKET_WAIT_SECONDS = 5.0
_TERM_WAIT_SECONDS = 5.0
_ELF_MAGIC = b"\x7fELF"


def _refuse(what: str, hint: str) -> None:
    raise FailedPrecondition(f"Firecracker cannot boot this VM: {what}", hint=hint)


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as kernel:
            return kernel.read(4) == _ELF_MAGIC
    except OSError:
        return False


class FirecrackerBackend:
    name = "firecracker"
    # Firecracker's vsock is a per-VM UNIX socket on the host, so every guest may use the
    # first free CID and no host module is needed.
    has_vsock = True

    def __init__(self, firecracker_bin: str | Path = "firecracker") -> None:
        self.firecracker_bin = str(firecracker_bin)

    def guest_drive_device(self, index: int) -> str:
        return virtio_blk_device(index)

    def effective_accel(self, requested: Accel) -> Accel:
        return "kvm"  # Firecracker has no software emulation

    def check_spec(self, spec: VMSpec, caps: KernelCaps) -> None:
        for path, what in [(spec.kernel, "kernel"), (spec.initrd, "initrd")] + [
            (drive.path, f"drive '{drive.id}'") for drive in spec.drives
        ]:
            if path is not None and not path.is_file():
                raise InvalidArgument(f"{what} {path} does not exist", hint=f"re-import the {what}")
        if spec.accel != "kvm":
            _refuse("it always needs KVM, not TCG", "use the qemu backend for TCG")
        if not caps.has_elf or not _is_elf(spec.kernel):
            _refuse(
                f"on x86_64 it boots only an uncompressed ELF vmlinux, and {spec.kernel} is not",
                "import the kernel with its vmlinux (banger extracts it from a bzImage)",
            )
        if caps.virtio_mmio == "absent":
            _refuse("the kernel has no virtio-mmio driver", "use a kernel with CONFIG_VIRTIO_MMIO")
        if caps.virtio_mmio == "module" and spec.initrd is None:
            _refuse(
                "the kernel's virtio-mmio driver is a module but no initrd loads it",
                "boot with the initrd generated for this kernel",
            )
        if not caps.mmio_cmdline_devices and not caps.acpi:
            _refuse(
                "the kernel can find virtio-mmio devices neither on its command line "
                "(CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) nor through ACPI (CONFIG_ACPI)",
                "use a Firecracker-ready kernel (e.g. its CI config), or the qemu backend",
            )

    def start(self, spec: VMSpec) -> VMHandle:
        paths = runtime_paths(spec.vm_dir)
        paths.api_socket.unlink(missing_ok=True)  # Firecracker refuses an existing socket
        for log_file in (paths.log, paths.metrics):
            log_file.touch()
        argv = [self.firecracker_bin, "--api-sock", str(paths.api_socket)]
        argv += ["--id", spec.vm_id.replace("_", "-")]  # --id allows [A-Za-z0-9-] only
        # Firecracker's stdout is the guest serial console.
        ident = process.spawn_detached(argv, log_path=spec.console_log, cwd=spec.vm_dir)
        marker = str(paths.api_socket)
        with contextlib.ExitStack() as undo:
            undo.callback(self._discard, ident.pid, ident.start_time, paths.api_socket)
            self._wait_for_socket(ident.pid, ident.start_time, paths.api_socket, spec.console_log)
            # Read exe only now: a launcher may have exec'd into the VMM after spawn.
            exe = process.read_exe(ident.pid)
            if exe is None or not process.is_same_process(ident.pid, ident.start_time, exe, marker):
                raise Unavailable(
                    f"firecracker for VM {spec.name} exited during start-up",
                    hint=f"read its output in {spec.console_log}",
                )
            handle = VMHandle(
                backend=self.name,
                vm_id=spec.vm_id,
                pid=ident.pid,
                start_time=ident.start_time,
                exe=exe,
                api_socket=paths.api_socket,
                console_log=spec.console_log,
            )
            with FirecrackerApi(paths.api_socket) as api:
                for request in boot_requests(spec, paths):
                    api.request(request.method, request.path, request.body)
            undo.pop_all()
        return handle

    @staticmethod
    def _discard(pid: int, start_time: int, api_socket: Path) -> None:
        process.kill_now(pid, start_time, None, str(api_socket))
        api_socket.unlink(missing_ok=True)

    @staticmethod
    def _wait_for_socket(pid: int, start_time: int, api_socket: Path, console_log: Path) -> None:
        """Bounded wait until the API answers; fail fast if the process died."""
        deadline = time.monotonic() + _SOCKET_WAIT_SECONDS
        while True:
            if not process.is_same_process(pid, start_time, None, str(api_socket)):
                raise Unavailable(
                    f"firecracker exited before its API socket {api_socket} came up",
                    hint=f"read its output in {console_log}",
                )
            if api_socket.exists():
                try:
                    with FirecrackerApi(api_socket, timeout=2.0) as api:
                        api.describe_instance()
                    return
                except Unavailable:
                    pass
            if time.monotonic() >= deadline:
                raise Unavailable(
                    f"firecracker API socket {api_socket} did not answer "
                    f"within {_SOCKET_WAIT_SECONDS:g} seconds",
                    hint=f"the host may be overloaded; read {console_log}",
                )
            time.sleep(0.05)

    def stop(self, handle: VMHandle, timeout: float = 30.0) -> None:
        marker = str(handle.api_socket)
        if self.status(handle) is ProcessState.STOPPED:
            return
        # Ctrl+Alt+Del makes a guest booted with reboot=k reboot, which ends Firecracker.
        api_timeout = min(timeout, 2.0)  # a wedged VMM must not eat the whole stop budget
        with (
            contextlib.suppress(BangerError),
            FirecrackerApi(handle.api_socket, timeout=api_timeout) as api,
        ):
            api.put("/actions", action_payload("SendCtrlAltDel"))
        if not process.wait_gone(handle.pid, handle.start_time, handle.exe, marker, timeout):
            process.terminate(
                handle.pid, handle.start_time, handle.exe, marker, term_timeout=_TERM_WAIT_SECONDS
            )
        handle.api_socket.unlink(missing_ok=True)

    def kill(self, handle: VMHandle) -> None:
        process.kill_now(handle.pid, handle.start_time, handle.exe, str(handle.api_socket))

    def status(self, handle: VMHandle) -> ProcessState:
        alive = process.is_same_process(
            handle.pid, handle.start_time, handle.exe, str(handle.api_socket)
        )
        return ProcessState.RUNNING if alive else ProcessState.STOPPED

    def reattach(self, handle: VMHandle) -> bool:
        if self.status(handle) is not ProcessState.RUNNING:
            return False
        try:
            with FirecrackerApi(handle.api_socket, timeout=2.0) as api:
                api.describe_instance()
        except BangerError:
            return False
        return True
