"""What this host can run: which backend a VM gets and which accelerator QEMU uses."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import replace
from pathlib import Path

from banger.doctor import KvmVerdict, VerdictCache, device_verdict, fingerprint, probe_kvm
from banger.errors import FailedPrecondition, InvalidArgument
from banger.ops.reporter import Reporter
from banger.vmm import Backend, FirecrackerBackend, QemuBackend
from banger.vmm.firecracker.jail import JailSettings

log = logging.getLogger("banger.daemon")


class HostPolicy:
    def __init__(
        self,
        qemu_bin: str,
        firecracker_bin: Path | None,
        default_backend: str,
        accel: str,
        *,
        verdicts: VerdictCache,
        probe_dir: Path,
        probe_seconds: float,
        jail: JailSettings | None = None,
    ) -> None:
        self.qemu = QemuBackend(qemu_bin)
        self.qemu_bin = qemu_bin
        self.firecracker_bin = firecracker_bin
        self.default_backend = default_backend
        self.configured_accel = accel
        self.verdicts, self.probe_dir, self.probe_seconds = verdicts, probe_dir, probe_seconds
        self._lock = threading.Lock()
        self.jail = jail  # use_jailer: Firecracker runs under its jailer

    def kvm_verdict(self, kernel: Path | None, reporter: Reporter | None = None) -> KvmVerdict:
        """Does `kernel` reach userspace under KVM here? Booted once per host/QEMU/kernel."""
        if (early := device_verdict(Path("/dev/kvm"))) is not None:
            return early
        qemu = shutil.which(self.qemu_bin)
        if qemu is None or kernel is None:
            return probe_kvm(qemu, kernel)  # unverified, and says why
        with self._lock:  # one probe at a time; the others then find it cached
            try:
                key = fingerprint(Path(qemu), kernel)
            except OSError as exc:
                return KvmVerdict.unverified(f"cannot read {kernel}: {exc.strerror}", True)
            cached = self.verdicts.get(key)
            if cached is not None:
                return cached
            if reporter is not None:
                reporter.stage("probe KVM (boot the kernel once under KVM)")
            verdict = probe_kvm(qemu, kernel, workdir=self.probe_dir, deadline=self.probe_seconds)
            log.info("KVM usable: %s (%s; %s)", verdict.usable, verdict.detail, verdict.evidence)
            if verdict.usable is not None:
                self.verdicts.put(key, verdict)
            return verdict

    def _firecracker_path(self) -> str | None:
        if self.firecracker_bin is not None:
            return str(self.firecracker_bin) if self.firecracker_bin.exists() else None
        return shutil.which("firecracker")

    def _jail(self) -> JailSettings | None:
        if self.jail is None:
            return None
        jailer = self.jail.jailer_bin
        found = jailer if "/" in jailer and Path(jailer).exists() else shutil.which(jailer)
        if found is None:
            raise FailedPrecondition(
                f"use_jailer is set but the jailer binary {jailer} was not found",
                hint="install the jailer of the same Firecracker release and set jailer_bin "
                "in /etc/banger/config.toml, or set use_jailer = false",
            )
        return replace(self.jail, jailer_bin=found)

    def backend(self, requested: str | None, kernel: Path | None = None) -> Backend:
        """The backend for a VM; `auto` picks Firecracker only where `kernel` runs under KVM."""
        choice = requested or self.default_backend
        if choice == "auto":
            usable = self._firecracker_path() and self.kvm_verdict(kernel).usable
            choice = "firecracker" if usable else "qemu"
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
            return FirecrackerBackend(path, self._jail())
        raise InvalidArgument(f"unknown backend '{choice}'", hint="use qemu or firecracker")

    def require_kvm_for(
        self, backend: Backend, kernel: Path | None, reporter: Reporter | None = None
    ) -> None:
        """Refuse Firecracker up front where KVM cannot run `kernel`: it has no TCG, so its
        guest would only hang. An operator's `accel = "kvm"` overrides the verdict."""
        if backend.name != "firecracker" or self.configured_accel == "kvm":
            return
        if self.configured_accel == "tcg":
            raise FailedPrecondition(
                'Firecracker cannot run with accel = "tcg": it has no software emulation',
                hint='use --backend qemu, or set accel = "auto" in /etc/banger/config.toml',
            )
        verdict = self.kvm_verdict(kernel, reporter)
        if not verdict.usable:
            raise FailedPrecondition(
                "Firecracker needs KVM and has no software emulation (TCG), but KVM is not "
                f"usable on this host: {verdict.detail}",
                hint="use --backend qemu, which falls back to TCG (banger doctor shows the KVM "
                'verdict); to override it, set accel = "kvm" in /etc/banger/config.toml',
            )

    def accel(self, reporter: Reporter, kernel: Path) -> str:
        """QEMU's accelerator for a guest booting `kernel`: KVM only where it reached userspace."""
        if self.configured_accel != "auto":
            return self.configured_accel
        verdict = self.kvm_verdict(kernel, reporter)
        if verdict.usable:
            return "kvm"
        reporter.log(f"notice: KVM is not usable here ({verdict.detail}); using QEMU TCG")
        return "tcg"
