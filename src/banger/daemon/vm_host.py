"""What this host can run: which backend a VM gets and which accelerator QEMU uses."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from banger.doctor import probe_kvm
from banger.errors import FailedPrecondition, InvalidArgument
from banger.ops.reporter import Reporter
from banger.vmm import Backend, FirecrackerBackend, QemuBackend

log = logging.getLogger("banger.daemon")


class HostPolicy:
    def __init__(
        self, qemu_bin: str, firecracker_bin: Path | None, default_backend: str, accel: str
    ) -> None:
        self.qemu = QemuBackend(qemu_bin)
        self.qemu_bin = qemu_bin
        self.firecracker_bin = firecracker_bin
        self.default_backend = default_backend
        self.configured_accel = accel
        self._kvm_usable: bool | None = None
        self._kvm_detail = ""
        self._lock = threading.Lock()

    def kvm_usable(self) -> bool:
        """Probed once per daemon (a real guest start, see banger.doctor.kvm)."""
        with self._lock:
            if self._kvm_usable is None:
                verdict = probe_kvm(shutil.which(self.qemu_bin) or self.qemu_bin)
                self._kvm_usable, self._kvm_detail = verdict.usable, verdict.detail
                log.info("KVM usable: %s (%s)", verdict.usable, verdict.detail)
            return self._kvm_usable

    def _firecracker_path(self) -> str | None:
        if self.firecracker_bin is not None:
            return str(self.firecracker_bin) if self.firecracker_bin.exists() else None
        return shutil.which("firecracker")

    def backend(self, requested: str | None) -> Backend:
        choice = requested or self.default_backend
        if choice == "auto":
            choice = "firecracker" if self._firecracker_path() and self.kvm_usable() else "qemu"
        if choice == "qemu":
            return self.qemu
        if choice == "firecracker":
            path = self._firecracker_path()
            if path is None:
                raise FailedPrecondition(
                    "the firecracker binary was not found",
                    hint="install it on PATH or set firecracker_bin in "
                    "/etc/banger/config.toml; or use --backend qemu",
                )
            return FirecrackerBackend(path)
        raise InvalidArgument(f"unknown backend '{choice}'", hint="use qemu or firecracker")

    def accel(self, reporter: Reporter) -> str:
        if self.configured_accel != "auto":
            return self.configured_accel
        if self.kvm_usable():
            return "kvm"
        reporter.log(f"notice: KVM is not usable here ({self._kvm_detail}); using QEMU TCG")
        return "tcg"
