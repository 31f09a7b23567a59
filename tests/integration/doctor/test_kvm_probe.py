"""The KVM verdict comes from booting a real Linux kernel to userspace (real QEMU).

A host where the accelerator works, one where it does not (an exit, an abort or a silent
hang), and one without /dev/kvm must each get the right verdict. The working case is
proven with TCG standing in for a working KVM (the same probe, the same kernel: only the
accelerator differs), the failing cases with real QEMU runs that never show the marker.
No assertion reads a PVM-specific error string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger.doctor.kvm import MARKER_PREFIX, probe_kvm
from tests.helpers.daemon import RunningDaemon, debian_daemon
from tests.helpers.kernel_artifacts import debian_kernel

pytestmark = pytest.mark.integration
QEMU = "/usr/bin/qemu-system-x86_64"


@pytest.fixture(scope="module")
def kernel() -> Path:
    return debian_kernel() / "bzImage"


def test_a_kernel_that_reaches_userspace_means_usable(kernel: Path, tmp_path: Path) -> None:
    verdict = probe_kvm(QEMU, kernel, workdir=tmp_path, accel="tcg", deadline=60)
    assert verdict.usable is True, verdict
    assert verdict.evidence is not None and verdict.evidence.startswith(MARKER_PREFIX)
    assert list(tmp_path.iterdir()) == []  # the probe's initrd is gone


def test_a_guest_that_does_not_reach_userspace_in_time_is_not_usable(
    kernel: Path, tmp_path: Path
) -> None:
    # A real boot cut off before /init runs: from outside, exactly a silent hang.
    verdict = probe_kvm(QEMU, kernel, workdir=tmp_path, accel="tcg", deadline=0.3)
    assert verdict.usable is False and "did not reach userspace within 0.3 s" in verdict.detail
    assert verdict.evidence is not None and "last output line" in verdict.evidence


def test_a_qemu_that_exits_at_once_is_not_usable_and_says_its_last_words(
    tmp_path: Path,
) -> None:
    not_a_kernel = tmp_path / "vmlinuz"
    not_a_kernel.write_bytes(b"\0" * 4096)
    verdict = probe_kvm(QEMU, not_a_kernel, workdir=tmp_path, accel="tcg", deadline=30)
    assert verdict.usable is False and "QEMU" in verdict.detail, verdict
    assert verdict.evidence and "qemu" in verdict.evidence.lower()


def test_no_kvm_device_means_not_present(kernel: Path, tmp_path: Path) -> None:
    verdict = probe_kvm(QEMU, kernel, device=tmp_path / "kvm")
    assert (verdict.present, verdict.usable) == (False, False)


def test_this_hosts_verdict_matches_a_real_boot(kernel: Path, tmp_path: Path) -> None:
    """Whatever the host: usable iff the kernel really reached userspace under KVM."""
    verdict = probe_kvm(QEMU, kernel, workdir=tmp_path)
    if not Path("/dev/kvm").exists():
        assert verdict.present is False and verdict.usable is False
        return
    assert verdict.usable is not None and verdict.evidence
    # The marker is the only road to "usable"; a PVM host (HOST-NOTES) runs no standard guest.
    assert verdict.usable == verdict.evidence.startswith(MARKER_PREFIX)
    if Path("/sys/module/kvm_pvm").exists():
        assert verdict.usable is False


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("kd")
    with debian_daemon(root) as daemon:
        yield daemon


def test_doctor_json_shows_the_verdict_with_its_evidence_and_caches_it(kd: RunningDaemon) -> None:
    def kvm_row() -> dict:  # type: ignore[type-arg]
        report = json.loads(kd.cli("doctor", "--json").stdout)
        return {c["name"]: c for c in report["checks"]}["kvm usable"]

    row = kvm_row()
    if not Path("/dev/kvm").exists():
        assert row["status"] == "warn" and "does not exist" in row["detail"]
        return
    assert row["status"] in ("pass", "warn") and not row["detail"].startswith("unverified")
    assert row["evidence"], row
    if Path("/sys/module/kvm_pvm").exists():
        assert row["status"] == "warn" and "TCG" in row["hint"]
    cache = kd.state_dir / "cache" / "kvm-verdicts.json"
    entries = json.loads(cache.read_text())
    assert len(entries) == 1 and os.uname().release in next(iter(entries))
    assert cache.stat().st_mode & 0o777 == 0o600
    assert kvm_row() == row  # answered from the cache: same verdict, same evidence
