"""The boot watch: which console histories count as progress, stall, panic or death."""

from pathlib import Path

import pytest

from banger.errors import BootFailed
from banger.guest.boot_watch import ConsoleWatch, Phase, StallLimits

EDD = b"Probing EDD (edd=off to disable)... ok\r\n"  # what a PVM-stalled bzImage prints
KERNEL = b"[    0.000000] Linux version 6.1.0-57-cloud-amd64\r\n"
USERSPACE = b"[    2.024087] Run /init as init process\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watch(tmp_path: Path, accel: str = "kvm", **limits: float) -> tuple[ConsoleWatch, Clock]:
    clock = Clock()
    return ConsoleWatch(
        tmp_path / "console.log", StallLimits(**limits), accel=accel, clock=clock
    ), clock


def test_silence_after_the_bootloader_is_a_kvm_stall_naming_the_last_line(tmp_path: Path) -> None:
    watch, clock = _watch(tmp_path, kernel_seconds=20)
    (tmp_path / "console.log").write_bytes(EDD)
    watch.check()  # new output is progress
    clock.now += 19
    watch.check()  # still within the bound
    clock.now += 2
    with pytest.raises(BootFailed) as err:
        watch.check()
    assert "KVM" in err.value.message and "Probing EDD" in err.value.message
    assert "sshd" not in err.value.message
    assert 'accel = "auto" or "tcg"' in (err.value.hint or "")


def test_kernel_stall_under_tcg_does_not_blame_kvm(tmp_path: Path) -> None:
    watch, clock = _watch(tmp_path, accel="tcg", kernel_seconds=5)
    watch.feed(KERNEL)
    clock.now += 6
    with pytest.raises(BootFailed) as err:
        watch.check()
    assert "KVM" not in err.value.message and "Linux version" in err.value.message


def test_an_empty_console_says_so(tmp_path: Path) -> None:
    watch, clock = _watch(tmp_path, kernel_seconds=5)
    clock.now += 6
    with pytest.raises(BootFailed, match="console stayed empty"):
        watch.check()


def test_a_silent_firecracker_guest_is_a_kvm_stall_with_a_firecracker_way_out(
    tmp_path: Path,
) -> None:
    # What the real Firecracker's guest does on a PVM host: nothing at all on the console.
    clock = Clock()
    watch = ConsoleWatch(
        tmp_path / "console.log",
        StallLimits(kernel_seconds=20),
        accel="kvm",
        vmm="firecracker",
        clock=clock,
    )
    clock.now += 21
    with pytest.raises(BootFailed) as err:
        watch.check()
    assert "under KVM" in err.value.message and "console stayed empty" in err.value.message
    hint = err.value.hint or ""
    assert "Firecracker runs guests only under KVM" in hint and "--backend qemu" in hint
    assert "accel" not in hint  # no accelerator setting rescues Firecracker
    assert "--backend qemu" in (watch.exited().hint or "")
    qemu, _ = _watch(tmp_path)
    assert "accel" in (qemu.exited().hint or "")


def test_userspace_gets_its_own_longer_bound(tmp_path: Path) -> None:
    watch, clock = _watch(tmp_path, kernel_seconds=5, userspace_seconds=30)
    watch.feed(KERNEL + USERSPACE + b"banger-init: started\n")
    assert watch.phase is Phase.USERSPACE
    clock.now += 29
    watch.check()
    clock.now += 2
    with pytest.raises(BootFailed, match=r"stalled in userspace.*banger-init: started"):
        watch.check()


def test_userspace_bound_zero_means_unbounded(tmp_path: Path) -> None:
    watch, clock = _watch(tmp_path, userspace_seconds=0)
    watch.feed(b"banger-initrd: modules loaded\n")
    clock.now += 10_000
    watch.check()


def test_a_panic_fails_at_once_with_the_panic_line(tmp_path: Path) -> None:
    watch, _ = _watch(tmp_path)
    panic = b"[    2.5] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n"
    (tmp_path / "console.log").write_bytes(KERNEL + USERSPACE + panic)
    with pytest.raises(BootFailed, match=r"panicked.*Attempted to kill init"):
        watch.check()


def test_a_vmm_that_died_before_userspace_under_kvm_names_kvm(tmp_path: Path) -> None:
    watch, _ = _watch(tmp_path)
    assert "KVM" in watch.exited().message
    watch_tcg, _ = _watch(tmp_path, accel="tcg")
    assert "KVM" not in watch_tcg.exited().message


def test_the_outer_bound_blames_sshd_only_once_init_ran(tmp_path: Path) -> None:
    watch, _ = _watch(tmp_path)
    watch.feed(KERNEL)
    assert "did not reach userspace" in watch.not_ready("sshd at 10.0.0.2", 300).message
    watch.feed(b"banger-init: exec /sbin/init\n")
    late = watch.not_ready("sshd at 10.0.0.2", 300)
    assert "sshd at 10.0.0.2 did not answer within 300 s" in late.message
    assert "lack sshd" in (late.hint or "")


def test_memory_stays_bounded_for_a_flood_without_newlines(tmp_path: Path) -> None:
    watch, _ = _watch(tmp_path)
    for _ in range(64):
        watch.feed(b"x" * 65536)
    assert len(watch._partial) <= 1200
    last = watch.last_line
    assert last is not None and len(last) <= 300
    for i in range(1000):
        watch.feed(f"line {i}\n".encode())
    assert len(watch.tail) == 20 and watch.tail[-1] == "line 999"


def test_poll_reads_only_what_is_new(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    watch, _ = _watch(tmp_path)
    assert watch.poll() == b""  # not created yet
    console.write_bytes(b"one\n")
    assert watch.poll() == b"one\n"
    with console.open("ab") as f:
        f.write(b"two\n")
    assert watch.poll() == b"two\n"
    assert list(watch.tail) == ["one", "two"]
