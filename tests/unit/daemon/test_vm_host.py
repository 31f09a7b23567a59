"""HostPolicy's decisions: which backend a VM gets and which accelerator QEMU uses.

Verdicts are seeded into a real VerdictCache under the real fingerprint of the real QEMU,
so a decision that ignored the cache would boot a probe and come out differently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from banger.daemon.vm_host import HostPolicy
from banger.doctor import KvmVerdict, VerdictCache, fingerprint
from banger.errors import FailedPrecondition, InvalidArgument
from banger.ops.reporter import NullReporter
from banger.vmm import FirecrackerBackend, QemuBackend

QEMU = "qemu-system-x86_64"
KVM_OPEN = os.access("/dev/kvm", os.R_OK | os.W_OK)


def _policy(tmp_path: Path, *, accel: str = "auto", firecracker: Path | None = None,
            default: str = "qemu") -> HostPolicy:  # fmt: skip
    return HostPolicy(
        QEMU,
        firecracker if firecracker is not None else tmp_path / "no-firecracker",
        default,
        accel,
        verdicts=VerdictCache(tmp_path / "kvm-verdicts.json"),
        probe_dir=tmp_path,
        probe_seconds=5,
    )


def _kernel(tmp_path: Path) -> Path:
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\x7fELF" + bytes(64))
    return kernel


def _seed(policy: HostPolicy, kernel: Path, usable: bool) -> None:
    qemu = shutil.which(QEMU)
    assert qemu is not None
    detail = "reached userspace" if usable else "the guest hung before userspace"
    policy.verdicts.put(fingerprint(Path(qemu), kernel), KvmVerdict(True, usable, detail))


def test_a_configured_accelerator_is_used_without_probing(tmp_path: Path) -> None:
    reporter = NullReporter()
    assert _policy(tmp_path, accel="tcg").accel(reporter, _kernel(tmp_path)) == "tcg"
    assert _policy(tmp_path, accel="kvm").accel(reporter, _kernel(tmp_path)) == "kvm"
    assert reporter.stages == [] and reporter.lines == []
    assert not (tmp_path / "kvm-verdicts.json").exists()


@pytest.mark.skipif(not KVM_OPEN, reason="the cache is consulted only where /dev/kvm opens")
def test_auto_accel_follows_the_cached_verdict_for_this_kernel(tmp_path: Path) -> None:
    policy, kernel = _policy(tmp_path), _kernel(tmp_path)
    _seed(policy, kernel, usable=True)
    reporter = NullReporter()
    assert policy.accel(reporter, kernel) == "kvm"
    assert reporter.stages == []  # answered from the cache: no probe stage

    other = tmp_path / "other"
    other.mkdir()
    policy, kernel = _policy(other), _kernel(other)
    _seed(policy, kernel, usable=False)
    assert policy.accel(reporter, kernel) == "tcg"
    assert reporter.lines == [
        "notice: KVM is not usable here (the guest hung before userspace); using QEMU TCG"
    ]


@pytest.mark.skipif(not KVM_OPEN, reason="the cache is consulted only where /dev/kvm opens")
def test_a_changed_kernel_is_not_judged_by_an_old_verdict(tmp_path: Path) -> None:
    policy, kernel = _policy(tmp_path), _kernel(tmp_path)
    _seed(policy, kernel, usable=True)
    kernel.write_bytes(b"\x7fELF" + bytes(128))  # rebuilt: new size and mtime
    verdict = policy.kvm_verdict(kernel)
    assert verdict.usable is not True  # probed afresh: this fake kernel cannot boot


def test_no_kernel_means_unverified_without_a_probe(tmp_path: Path) -> None:
    verdict = _policy(tmp_path).kvm_verdict(None)
    if KVM_OPEN:
        assert verdict.usable is None and verdict.detail.startswith("unverified")
    else:
        assert verdict.usable is False


def test_explicit_backends(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    assert policy.backend("qemu") is policy.qemu and isinstance(policy.qemu, QemuBackend)
    assert policy.backend(None) is policy.qemu  # the configured default
    with pytest.raises(InvalidArgument, match="unknown backend 'vbox'"):
        policy.backend("vbox")


def test_firecracker_needs_its_binary(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition) as missing:
        _policy(tmp_path).backend("firecracker")
    assert "--backend qemu" in (missing.value.hint or "")
    binary = tmp_path / "firecracker"
    binary.write_text("")
    chosen = _policy(tmp_path, firecracker=binary).backend("firecracker")
    assert isinstance(chosen, FirecrackerBackend) and chosen.firecracker_bin == str(binary)


def test_auto_without_firecracker_is_qemu_without_probing(tmp_path: Path) -> None:
    policy = _policy(tmp_path, default="auto")
    assert policy.backend(None, _kernel(tmp_path)) is policy.qemu
    assert not (tmp_path / "kvm-verdicts.json").exists()  # no probe was needed to decide


@pytest.mark.skipif(not KVM_OPEN, reason="the cache is consulted only where /dev/kvm opens")
@pytest.mark.parametrize(("usable", "expected"), [(True, "firecracker"), (False, "qemu")])
def test_auto_picks_firecracker_only_where_the_kernel_runs_under_kvm(
    tmp_path: Path, usable: bool, expected: str
) -> None:
    binary = tmp_path / "firecracker"
    binary.write_text("")
    policy, kernel = _policy(tmp_path, firecracker=binary, default="auto"), _kernel(tmp_path)
    _seed(policy, kernel, usable=usable)
    assert policy.backend(None, kernel).name == expected


@pytest.mark.skipif(not KVM_OPEN, reason="the cache is consulted only where /dev/kvm opens")
def test_firecracker_is_refused_up_front_where_kvm_is_not_usable(tmp_path: Path) -> None:
    binary = tmp_path / "firecracker"
    binary.write_text("")
    policy, kernel = _policy(tmp_path, firecracker=binary), _kernel(tmp_path)
    _seed(policy, kernel, usable=False)
    firecracker = policy.backend("firecracker", kernel)
    with pytest.raises(FailedPrecondition) as refused:
        policy.require_kvm_for(firecracker, kernel)
    assert "Firecracker needs KVM" in refused.value.message
    assert "the guest hung before userspace" in refused.value.message  # the verdict's words
    assert "--backend qemu" in (refused.value.hint or "")
    policy.require_kvm_for(policy.qemu, kernel)  # QEMU falls back to TCG: never refused

    _seed(policy, kernel, usable=True)
    policy.require_kvm_for(firecracker, kernel)  # a usable verdict lets it through


def test_an_operators_accel_overrides_the_verdict_for_firecracker(tmp_path: Path) -> None:
    binary = tmp_path / "firecracker"
    binary.write_text("")
    kernel = _kernel(tmp_path)
    forced = _policy(tmp_path, accel="kvm", firecracker=binary)
    forced.require_kvm_for(forced.backend("firecracker"), kernel)  # no probe, no refusal
    assert not (tmp_path / "kvm-verdicts.json").exists()
    tcg = _policy(tmp_path, accel="tcg", firecracker=binary)
    with pytest.raises(FailedPrecondition, match="no software emulation"):
        tcg.require_kvm_for(tcg.backend("firecracker"), kernel)
