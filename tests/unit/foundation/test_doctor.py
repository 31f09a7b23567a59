"""Doctor's KVM verdict comes from really starting a guest, not from /dev/kvm existing."""

from pathlib import Path

import pytest

from banger.doctor import checks
from banger.doctor.kvm import probe_kvm

needs_kvm_device = pytest.mark.skipif(not Path("/dev/kvm").exists(), reason="no /dev/kvm")


def _fake_qemu(tmp_path: Path, body: str) -> str:
    script = tmp_path / "qemu-system-x86_64"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@needs_kvm_device
def test_qemu_that_aborts_means_not_usable(tmp_path: Path) -> None:
    qemu = _fake_qemu(tmp_path, "echo 'error: failed to set MSR 0x10a' >&2; exit 134")
    verdict = probe_kvm(qemu)
    assert verdict.present and not verdict.usable
    assert "failed to set MSR 0x10a" in verdict.detail


@needs_kvm_device
def test_qemu_that_keeps_running_means_usable(tmp_path: Path) -> None:
    verdict = probe_kvm(_fake_qemu(tmp_path, "exec sleep 30"))
    assert verdict.present and verdict.usable


@needs_kvm_device
def test_real_probe_matches_the_host() -> None:
    qemu = "/usr/bin/qemu-system-x86_64"
    if not Path(qemu).exists():
        pytest.skip("qemu not installed")
    verdict = probe_kvm(qemu)
    if Path("/sys/module/kvm_pvm").exists():  # HOST-NOTES: PVM runs no standard guest
        assert not verdict.usable and "PVM" in verdict.detail


def test_disk_and_tool_checks_report_fixes(tmp_path: Path) -> None:
    disk = checks.check_disk(tmp_path / "not" / "yet")
    assert disk.name == "disk space" and "GiB free" in disk.detail
    for check in checks.check_tools():
        assert check.status == "pass" or check.hint.startswith("apt-get install")  # type: ignore[union-attr]


def test_reflink_probe_on_a_plain_directory(tmp_path: Path) -> None:
    check = checks.check_reflink(tmp_path)
    assert check.status in ("pass", "warn") and not check.required
