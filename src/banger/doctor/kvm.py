"""Is KVM usable for a *standard* guest? A real probe, because a device file is not enough.

On hosts whose KVM is PVM (/sys/module/kvm_pvm), /dev/kvm opens and KVM_CREATE_VM works,
yet a standard guest aborts ("failed to set MSR 0x10a") or dies in emulation. So we start
QEMU itself with `-accel kvm -cpu host` on an empty microvm for a moment: a usable KVM
keeps it running (the firmware idles with no kernel); an unusable one kills it at once.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_PROBE_SECONDS = 1.5


@dataclass(frozen=True)
class KvmVerdict:
    present: bool
    usable: bool
    detail: str


def probe_kvm(qemu_bin: str | None) -> KvmVerdict:
    if not Path("/dev/kvm").exists():
        return KvmVerdict(False, False, "/dev/kvm does not exist")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return KvmVerdict(True, False, "/dev/kvm exists but is not read/writable by this user")
    pvm = Path("/sys/module/kvm_pvm").exists()
    if qemu_bin is None:
        detail = "/dev/kvm exists; no QEMU to probe it with"
        return KvmVerdict(True, not pvm, detail + ("; host KVM is PVM" if pvm else ""))
    argv = [
        qemu_bin,
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-machine",
        "microvm",
        "-m",
        "32",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "none",
        "-monitor",
        "none",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + _PROBE_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        return KvmVerdict(True, True, "a standard guest starts under KVM")
    stderr = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip()
    last = stderr.splitlines()[0] if stderr else f"exit code {proc.returncode}"
    why = "host KVM is PVM (kvm_pvm), which runs only PVM guests; " if pvm else ""
    return KvmVerdict(True, False, f"{why}QEMU with -accel kvm failed: {last}")
