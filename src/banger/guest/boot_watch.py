"""Watch a booting guest's serial console and say, within seconds, when it stopped making
progress — and why, in words that point at the real cause.

A guest that hangs under an unusable KVM prints nothing (or only the bootloader's
`Probing EDD ... ok`) while its VMM spins at 100 % CPU; without this watch the only signal
was the readiness timeout minutes later, with a hint about sshd. Progress is new console
output. The allowed silence depends on the boot phase:

- kernel: from VMM start until the guest runs its first userspace program. A kernel prints
  steadily (the longest gap seen in a healthy TCG boot here was 4.3 s), so a short bound
  separates "slow" from "stuck".
- userspace: init is running; it may be quieter, so the bound is longer.

The watch only reads the console log; the caller stops the VM and raises the error.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from banger.errors import BootFailed
from banger.guest import console_log

# Console lines that prove the kernel handed over to a userspace program.
USERSPACE_MARKERS = (
    "Run /init as init process",
    "Run /sbin/init as init process",
    "Freeing unused kernel",
    "banger-initrd:",
    "banger-init:",
    "systemd[1]:",
)
PANIC_MARKERS = ("Kernel panic - not syncing", "---[ end Kernel panic")
_TAIL_LINES = 20
_MAX_LINE = 300  # console lines kept for errors are cut here; the log has the rest
_READ_CHUNK = 1 << 20  # at most this much console is read per poll


class Phase(StrEnum):
    KERNEL = "kernel"
    USERSPACE = "userspace"


@dataclass(frozen=True)
class StallLimits:
    kernel_seconds: float = 20.0
    userspace_seconds: float = 30.0  # 0 disables the userspace bound


class ConsoleWatch:
    """Follows a console log as it grows; keeps only a bounded tail and a few facts."""

    def __init__(
        self,
        console: Path,
        limits: StallLimits,
        *,
        accel: str,
        vmm: str = "qemu",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console, self.limits, self.accel, self._clock = console, limits, accel, clock
        self.vmm = vmm  # which backend runs the guest: the way out of a KVM stall differs
        self.started = self.last_progress = clock()
        self.phase = Phase.KERNEL
        self.panic_line: str | None = None
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._offset = 0
        self._partial = b""
        self.skipped = 0  # console bytes trimmed away before this watch read them

    # -- feeding -------------------------------------------------------------------------
    def poll(self) -> bytes:
        """Read what the guest printed since the last poll (also returned, for other readers)."""
        # Logical offsets: the daemon trims a long console in place (console_log.trim).
        data, self._offset, skipped = console_log.read(self.console, self._offset, _READ_CHUNK)
        if skipped:
            self.skipped += skipped
            self._partial = b""  # its start was trimmed away unread: not a line we can judge
        self.feed(data)
        return data

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.last_progress = self._clock()
        *lines, rest = (self._partial + data).split(b"\n")
        self._partial = rest[-_MAX_LINE * 4 :]  # a line with no end cannot grow without bound
        for raw in lines:
            self._line(raw.decode(errors="replace").strip("\r\x00 "))

    def _line(self, line: str) -> None:
        if not line:
            return
        self.tail.append(line[:_MAX_LINE])
        if self.phase is Phase.KERNEL and any(m in line for m in USERSPACE_MARKERS):
            self.phase = Phase.USERSPACE
        if self.panic_line is None and any(m in line for m in PANIC_MARKERS):
            self.panic_line = line[:_MAX_LINE]

    # -- judging -------------------------------------------------------------------------
    @property
    def last_line(self) -> str | None:
        if self._partial.strip(b"\r\x00 \n"):
            return self._partial.decode(errors="replace").strip("\r\x00 ")[:_MAX_LINE]
        return self.tail[-1] if self.tail else None

    def silent_for(self) -> float:
        return self._clock() - self.last_progress

    def stall_limit(self) -> float:
        if self.phase is Phase.KERNEL:
            return self.limits.kernel_seconds
        return self.limits.userspace_seconds

    def check(self) -> None:
        """Read what is new, then judge (see `judge`)."""
        self.poll()
        self.judge()

    def judge(self) -> None:
        """Raise BootFailed if the guest panicked or has been silent past its phase's bound."""
        if self.panic_line is not None:
            raise self.panicked()
        limit = self.stall_limit()
        if limit > 0 and self.silent_for() > limit:
            raise self.stalled()

    def report_tail(self, log: Callable[[str], None]) -> None:
        """Hand the console's last lines to `log` (a failed create deletes the console)."""
        for line in self.tail:
            log(f"console: {line}")

    def _evidence(self) -> str:
        last = self.last_line
        return f"its console's last line: {last!r}" if last else "its console stayed empty"

    def _kvm_hint(self) -> str:
        if self.vmm == "firecracker":
            # Firecracker has no software emulation: no accel setting can rescue it.
            return (
                "Firecracker runs guests only under KVM, and this host's KVM cannot run this "
                "guest (see banger doctor); use --backend qemu, which falls back to TCG"
            )
        return (
            "this host's KVM cannot run this guest (see banger doctor); set "
            'accel = "auto" or "tcg" in /etc/banger/config.toml'
        )

    def panicked(self) -> BootFailed:
        return BootFailed(
            f"the guest kernel panicked: {self.panic_line!r}",
            hint="the kernel could not start the image: check the image's kernel, initrd and "
            "root filesystem; the operation log (banger ops show ID) has the console's last lines",
        )

    def stalled(self) -> BootFailed:
        silent = f"no console output for {self.silent_for():.0f} s"
        if self.phase is Phase.USERSPACE:
            return BootFailed(
                f"the guest stalled in userspace: {silent}; {self._evidence()}",
                hint="the image's init is stuck or silent and its sshd never answered; "
                "the operation log (banger ops show ID) has the console's last lines",
            )
        if self.accel == "kvm":
            return BootFailed(
                f"the guest kernel stalled under KVM before reaching userspace: {silent}; "
                f"{self._evidence()}",
                hint=self._kvm_hint(),
            )
        return BootFailed(
            f"the guest kernel stalled before reaching userspace: {silent}; {self._evidence()}",
            hint="the kernel may not support this machine (serial console, virtio-mmio, "
            "ACPI) or the host is overloaded; see the operation log (banger ops show ID)",
        )

    def exited(self) -> BootFailed:
        """The VMM is gone before the guest was ready: say what the console last showed."""
        self.poll()
        if self.panic_line is not None:
            return self.panicked()
        if self.phase is Phase.KERNEL and self.accel == "kvm":
            return BootFailed(
                f"the VM stopped under KVM before its kernel reached userspace; {self._evidence()}",
                hint=self._kvm_hint(),
            )
        return BootFailed(
            f"the VM stopped before it was ready; {self._evidence()}",
            hint="the operation log (banger ops show ID) has the console's last lines",
        )

    def not_ready(self, what: str, seconds: float) -> BootFailed:
        """The outer bound: the guest kept printing but `what` never answered."""
        self.poll()
        if self.phase is Phase.USERSPACE:
            return BootFailed(
                f"{what} did not answer within {seconds:.0f} s although the guest's init ran; "
                f"{self._evidence()}",
                hint="the image may lack sshd or its sshd failed to start; "
                "the operation log (banger ops show ID) has the console's last lines",
            )
        return BootFailed(
            f"the guest did not reach userspace within {seconds:.0f} s; {self._evidence()}",
            hint="the kernel is booting very slowly or looping; "
            "see the operation log (banger ops show ID)",
        )
