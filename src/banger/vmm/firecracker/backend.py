"""The Firecracker backend: spawn `firecracker --api-sock`, configure over the API, boot."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from banger.errors import BangerError, FailedPrecondition, InvalidArgument, Unavailable
from banger.vmm import process
from banger.vmm.base import Accel, KernelCaps, ProcessState, VMHandle, VMSpec, virtio_blk_device
from banger.vmm.firecracker import jail
from banger.vmm.firecracker.api import FirecrackerApi
from banger.vmm.firecracker.jail import JailSettings
from banger.vmm.firecracker.payloads import (
    RuntimePaths,
    action_payload,
    boot_requests,
    logger_args,
    runtime_paths,
)

_SOCKET_WAIT_SECONDS = 5.0
_TERM_WAIT_SECONDS = 5.0
_ELF_MAGIC = b"\x7fELF"


def _refuse(what: str, hint: str) -> None:
    raise FailedPrecondition(f"Firecracker cannot boot this VM: {what}", hint=hint)


def _marker(vm_id: str) -> str:
    """What a VM's Firecracker command line always carries: its --id (jailed or not)."""
    return jail.jail_id(vm_id)


def _remove_sockets(paths: RuntimePaths) -> None:
    """The API and vsock sockets of a Firecracker that is gone (or not yet started)."""
    for socket in (paths.api_socket, paths.vsock):
        socket.unlink(missing_ok=True)


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

    def __init__(
        self, firecracker_bin: str | Path = "firecracker", jail: JailSettings | None = None
    ) -> None:
        self.firecracker_bin = str(firecracker_bin)
        self.jail = jail  # None: run Firecracker directly, as root
        # A jailed Firecracker runs as the jail's uid, which must be let open the tap.
        self.tap_owner: int | None = jail.uid if jail is not None else None

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

    def _launch(self, spec: VMSpec) -> tuple[list[str], RuntimePaths, VMSpec, RuntimePaths]:
        """argv; Firecracker's files as the host sees them; spec and files as it sees them."""
        if self.jail is None:
            paths = runtime_paths(spec.vm_dir)
            for log_file in (paths.log, paths.metrics):
                log_file.touch()  # Firecracker opens them, it does not create them
            argv = [self.firecracker_bin, "--api-sock", str(paths.api_socket)]
            argv += ["--id", jail.jail_id(spec.vm_id)]  # --id allows [A-Za-z0-9-] only
            return [*argv, *logger_args(paths.log)], paths, spec, paths
        inner_spec, inner = jail.stage(spec, self.jail)  # the jailer passes --id itself
        argv = jail.argv(self.jail, self.firecracker_bin, spec)
        argv += ["--api-sock", str(inner.api_socket), *logger_args(inner.log)]
        return argv, runtime_paths(jail.jail_root(spec.vm_dir, spec.vm_id)), inner_spec, inner

    def start(self, spec: VMSpec) -> VMHandle:
        # Firecracker refuses to bind over an existing socket, and leaves its sockets behind
        # when it dies (kill -9, crash): PUT /vsock then fails with "Address in use".
        _remove_sockets(runtime_paths(spec.vm_dir))
        argv, paths, inner_spec, inner = self._launch(spec)
        # Firecracker's stdout is the guest serial console.
        ident = process.spawn_detached(argv, log_path=spec.console_log, cwd=spec.vm_dir)
        marker = _marker(spec.vm_id)
        with contextlib.ExitStack() as undo:
            undo.callback(self._discard, ident.pid, ident.start_time, paths.api_socket, spec.vm_id)
            self._wait_for_socket(
                ident.pid, ident.start_time, marker, paths.api_socket, spec.console_log
            )
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
                for request in boot_requests(inner_spec, inner):
                    api.request(request.method, request.path, request.body)
            undo.pop_all()
        return handle

    @staticmethod
    def _discard(pid: int, start_time: int, api_socket: Path, vm_id: str) -> None:
        process.kill_now(pid, start_time, None, _marker(vm_id))
        _remove_sockets(runtime_paths(api_socket.parent))
        jail.release(vm_id)

    @staticmethod
    def _wait_for_socket(
        pid: int, start_time: int, marker: str, api_socket: Path, console_log: Path
    ) -> None:
        """Bounded wait until the API answers; fail fast if the process died."""
        deadline = time.monotonic() + _SOCKET_WAIT_SECONDS
        while True:
            if not process.is_same_process(pid, start_time, None, marker):
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
        marker = _marker(handle.vm_id)
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
        _remove_sockets(runtime_paths(handle.api_socket.parent))
        jail.release(handle.vm_id)

    def kill(self, handle: VMHandle) -> None:
        process.kill_now(handle.pid, handle.start_time, handle.exe, _marker(handle.vm_id))
        jail.release(handle.vm_id)  # removes only empty cgroups: a reused pid's are safe

    def status(self, handle: VMHandle) -> ProcessState:
        alive = process.is_same_process(
            handle.pid, handle.start_time, handle.exe, _marker(handle.vm_id)
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
