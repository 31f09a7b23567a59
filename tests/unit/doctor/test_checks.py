"""Doctor rows: a probe that breaks is a failed row, and the KVM row carries its evidence."""

from pathlib import Path

from banger.doctor import checks
from banger.doctor.kvm import KvmVerdict


def test_disk_and_tool_checks_report_fixes(tmp_path: Path) -> None:
    disk = checks.check_disk(tmp_path / "not" / "yet")
    assert disk.name == "disk space" and "GiB free" in disk.detail
    for check in checks.check_tools():
        assert check.status == "pass" or check.hint.startswith("apt-get install")  # type: ignore[union-attr]


def test_reflink_probe_on_a_plain_directory(tmp_path: Path) -> None:
    check = checks.check_reflink(tmp_path)
    assert check.status in ("pass", "warn") and not check.required


def test_kvm_rows_show_verdict_and_evidence() -> None:
    device, usable = checks.check_kvm(KvmVerdict(True, False, "under KVM, it hung", "last: 'x'"))
    assert device.status == "pass"
    assert usable.status == "warn" and usable.evidence == "last: 'x'"
    assert "TCG" in (usable.hint or "")
    _, unverified = checks.check_kvm(KvmVerdict.unverified("no kernel yet", present=True))
    assert unverified.status == "warn" and unverified.detail.startswith("unverified")
    _, good = checks.check_kvm(KvmVerdict(True, True, "reached userspace", "MARKER"))
    assert good.status == "pass" and good.hint is None and good.evidence == "MARKER"


def test_a_probe_that_raises_becomes_a_failed_row_not_a_missing_one(tmp_path: Path) -> None:
    def broken() -> KvmVerdict:
        raise OSError(5, "Input/output error")

    rows = checks.host_checks("qemu-system-x86_64", None, tmp_path, broken)
    kvm = [r for r in rows if r.name == "kvm usable"]
    assert len(kvm) == 1 and kvm[0].status == "warn"
    assert "the check itself failed" in kvm[0].detail and "Input/output error" in kvm[0].detail
    assert {"qemu", "tun", "disk space"} <= {r.name for r in rows}


def test_a_missing_firecracker_points_at_its_official_releases(tmp_path: Path) -> None:
    # banger's tests use a pinned Firecracker from PyPI; users must never be sent there.
    row = checks.check_firecracker(tmp_path / "firecracker")
    assert row.status == "warn" and not row.required
    assert "official releases" in (row.hint or "")
    assert "github.com/firecracker-microvm/firecracker/releases" in (row.hint or "")
    assert "pip" not in (row.hint or "") and "pyro" not in (row.hint or "")
