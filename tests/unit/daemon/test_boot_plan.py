"""The boot plan: one ordered list of named steps for VMs and builders; undo in reverse."""

import contextlib
from pathlib import Path

import pytest

from banger.daemon.boot_plan import BootRun, Step, boot_steps, run_steps
from banger.daemon.boot_set import BootSet
from banger.daemon.build_vm import BUILD_DRIVE_ID, BuilderPlan, builder_guest
from banger.errors import BangerError
from banger.ops.reporter import NullReporter
from banger.vmm import FirecrackerBackend, KernelCaps, QemuBackend
from banger.vmm.base import virtio_blk_device

CAPS = KernelCaps(has_elf=True, mmio_cmdline_devices=False, virtio_mmio="builtin")


def _run() -> BootRun:
    return BootRun(guest=None, backend=QemuBackend(), net=None, leases=None, dns=[])  # type: ignore[arg-type]


def test_steps_run_in_order_and_a_failure_undoes_the_acquired_ones_in_reverse() -> None:
    events: list[str] = []

    def acquire(name: str) -> Step:
        def do(_: BootRun) -> object:
            events.append(f"do {name}")
            return lambda: events.append(f"undo {name}")

        return Step(name, do)  # type: ignore[arg-type]

    def fail(_: BootRun) -> None:
        events.append("do fail")
        raise BangerError("boom")

    reporter = NullReporter()
    with pytest.raises(BangerError), contextlib.ExitStack() as undo:
        run_steps([acquire("a"), Step("plain", lambda r: None), acquire("b"), Step("fail", fail)],
                  _run(), undo, reporter)  # fmt: skip
    assert reporter.stages == ["a", "plain", "b", "fail"]
    assert events == ["do a", "do b", "do fail", "undo b", "undo a"]


def test_success_leaves_the_undos_to_the_caller() -> None:
    events: list[str] = []
    step = Step("a", lambda r: lambda: events.append("undo a"))
    with contextlib.ExitStack() as undo:
        run_steps([step], _run(), undo, NullReporter())
        kept = undo.pop_all()
    assert events == []
    kept.close()
    assert events == ["undo a"]


def test_vms_and_builders_share_one_sequence() -> None:
    names = [s.name for s in boot_steps("qemu")]
    assert names == ["network", "lease an address", "tap", "port guard", "guest settings",
                     "VM spec", "start qemu"]  # fmt: skip


def test_a_builder_is_the_vm_plan_with_edits_as_data(tmp_path: Path) -> None:
    plan = BuilderPlan(
        builder_id="build-abc",
        builder_dir=tmp_path,
        root=tmp_path / "root.ext4",
        build_disk=tmp_path / "build.ext4",
        boot=BootSet(tmp_path / "k", None, CAPS),
        cpus=1,
        memory_mib=512,
        accel="tcg",
        nonce="n",
        steps=["true"],
        timeout_s=60,
        via="console",
    )
    guest = builder_guest(plan, None, "/dev/vdb")
    assert [d.id for d in guest.extra_drives] == [BUILD_DRIVE_ID]
    assert guest.extra_drives[0].read_only
    assert guest.guest_extra == {"MODE": "build", "BUILD_DEVICE": "/dev/vdb"}
    assert guest.lease_owner == "build-abc" and "quiet" in guest.cmdline_extra
    assert guest.network_peers_of is None, "a builder reaches no VM on the bridge"
    over_ssh = builder_guest(
        plan.__class__(**{**plan.__dict__, "via": "ssh"}), "ssh-ed25519 AAAA", "/dev/vdb"
    )
    assert over_ssh.guest_extra == {} and over_ssh.authorized_keys == ("ssh-ed25519 AAAA",)


def test_backends_answer_device_names_vsock_and_accel() -> None:
    qemu, fc = QemuBackend(), FirecrackerBackend("/nonexistent")
    assert [qemu.guest_drive_device(i) for i in range(3)] == ["/dev/vda", "/dev/vdb", "/dev/vdc"]
    assert fc.guest_drive_device(1) == "/dev/vdb" == virtio_blk_device(1)
    assert (qemu.has_vsock, fc.has_vsock) == (False, True)
    assert qemu.effective_accel("tcg") == "tcg" and fc.effective_accel("tcg") == "kvm"
    with pytest.raises(ValueError):
        virtio_blk_device(26)
