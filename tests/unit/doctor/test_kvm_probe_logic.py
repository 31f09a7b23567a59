"""The KVM probe's pure parts: its QEMU command line, its initrd, its verdict cache."""

import gzip
import os
from pathlib import Path

from banger.doctor.kvm import KvmVerdict, probe_argv, probe_initrd, probe_kvm
from banger.doctor.kvm_cache import VerdictCache, fingerprint


def test_probe_argv_boots_in_the_foreground_with_the_console_on_stdout() -> None:
    argv = probe_argv("qemu", Path("/k"), Path("/i"), "kvm", tsc_khz=2596000)
    assert argv[argv.index("-accel") + 1] == "kvm" and argv[argv.index("-cpu") + 1] == "host"
    assert argv[argv.index("-serial") + 1] == "stdio" and "-daemonize" not in argv
    assert "-no-reboot" in argv
    cmdline = argv[argv.index("-append") + 1]
    assert "rdinit=/init" in cmdline and "tsc_early_khz" not in cmdline
    tcg = probe_argv("qemu", Path("/k"), Path("/i"), "tcg", tsc_khz=2596000)
    assert "tsc_early_khz=2596000" in tcg[tcg.index("-append") + 1]
    assert tcg[tcg.index("-cpu") + 1] == "max"


def test_probe_initrd_prints_the_marker_then_powers_off() -> None:
    data = gzip.decompress(probe_initrd("BANGER-KVM-PROBE-abc"))
    assert b"070701" in data[:6]  # newc
    assert b"echo BANGER-KVM-PROBE-abc\n/bin/busybox poweroff -f" in data
    assert b"dev/console" in data


def test_no_kernel_or_no_device_answers_without_booting(tmp_path: Path) -> None:
    missing = probe_kvm("/nonexistent/qemu", Path("/k"), device=tmp_path / "kvm")
    assert missing == KvmVerdict(False, False, f"{tmp_path / 'kvm'} does not exist")
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    unverified = probe_kvm("/nonexistent/qemu", None, device=device)
    assert unverified.usable is None and "no kernel yet" in unverified.detail


def test_cache_round_trip_and_keys_that_change(tmp_path: Path) -> None:
    qemu, kernel = tmp_path / "qemu", tmp_path / "bzImage"
    qemu.write_bytes(b"q")
    kernel.write_bytes(b"k1")
    key = fingerprint(qemu, kernel)
    assert os.uname().release in key
    cache = VerdictCache(tmp_path / "cache" / "kvm.json")
    assert cache.get(key) is None
    verdict = KvmVerdict(True, False, "under KVM, ...", "console's last line: 'x'")
    cache.put(key, verdict)
    assert cache.get(key) == verdict
    assert (tmp_path / "cache" / "kvm.json").stat().st_mode & 0o777 == 0o600
    kernel.write_bytes(b"kernel two")  # another kernel file: another probe
    assert fingerprint(qemu, kernel) != key


def test_cache_survives_damage_and_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "kvm.json"
    path.write_text("{not json")
    cache = VerdictCache(path)
    assert cache.get("k") is None
    for i in range(40):
        cache.put(f"k{i}", KvmVerdict(True, True, "ok"))
    assert cache.get("k0") is None and cache.get("k39") is not None
    path.write_text('{"k": {"unexpected": 1}}')
    assert cache.get("k") is None
