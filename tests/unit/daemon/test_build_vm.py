"""The builder VM's boot data and how its step events reach the operation log."""

from __future__ import annotations

from pathlib import Path

import pytest

from banger.daemon import build_vm
from banger.daemon.boot_set import BootSet
from banger.daemon.build_vm import BUILDER_LEASE_PREFIX, BuilderPlan, builder_guest
from banger.images.build_console import BuildDone, StepBegin, StepExit, StepOutput
from banger.network import mac_for
from banger.ops.reporter import NullReporter
from banger.store import StateLayout
from banger.vmm import KernelCaps


def _plan(tmp_path: Path, via: str = "console") -> BuilderPlan:
    builder = StateLayout(tmp_path).builder("b0b0")
    builder.path.mkdir(parents=True)
    caps = KernelCaps(has_elf=True, mmio_cmdline_devices=False, virtio_mmio="builtin")
    return BuilderPlan(
        builder_id=builder.path.name,
        builder_dir=builder.path,
        root=builder.root_disk,
        build_disk=builder.build_disk,
        boot=BootSet(tmp_path / "vmlinux", None, caps),
        cpus=1,
        memory_mib=512,
        accel="tcg",
        nonce="n0",
        steps=["apt-get update", "apt-get install -y curl"],
        timeout_s=60,
        via=via,  # type: ignore[arg-type]
    )


def test_a_console_builder_boots_in_build_mode_with_a_read_only_build_drive(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)
    guest = builder_guest(plan, None, "/dev/vdb")
    assert guest.guest_extra == {"MODE": "build", "BUILD_DEVICE": "/dev/vdb"}
    (drive,) = guest.extra_drives
    assert (drive.id, drive.path, drive.read_only) == ("build", plan.build_disk, True)
    assert guest.root_disk == plan.root and guest.console_log == plan.builder_dir / "console.log"
    assert guest.authorized_keys == () and "quiet" in guest.cmdline_extra
    assert guest.mac == mac_for(plan.builder_id)
    assert guest.host_key_private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert guest.host_key_public.startswith("ssh-ed25519 ")


def test_an_ssh_builder_boots_its_own_init_and_trusts_the_daemons_key(tmp_path: Path) -> None:
    guest = builder_guest(_plan(tmp_path, via="ssh"), "ssh-ed25519 AAAA daemon", "/dev/vdb")
    assert guest.guest_extra == {}  # no build mode: the base's init starts sshd
    assert guest.authorized_keys == ("ssh-ed25519 AAAA daemon",)


def test_builder_leases_carry_the_prefix_the_daemon_releases_at_start(tmp_path: Path) -> None:
    guest = builder_guest(_plan(tmp_path), None, "/dev/vdb")
    assert guest.lease_owner.startswith(BUILDER_LEASE_PREFIX)
    # A VM's lease owner is its hex id (secrets.token_hex): a prefix of hex digits only
    # would let the start-up release take some VMs' addresses too.
    assert set(BUILDER_LEASE_PREFIX) - set("0123456789abcdef")


def test_each_builder_gets_a_fresh_host_key(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    first, second = builder_guest(plan, None, "/dev/vdb"), builder_guest(plan, None, "/dev/vdb")
    assert first.host_key_public != second.host_key_public


@pytest.mark.parametrize(
    ("via", "powering_off"), [("console", ["builder powering off"]), ("ssh", [])]
)
def test_step_events_become_stages_and_log_lines(
    tmp_path: Path, via: str, powering_off: list[str]
) -> None:
    plan, reporter = _plan(tmp_path, via=via), NullReporter()
    events = [
        StepBegin(1), StepOutput(1, "Get:1 http://deb.debian.org"), StepExit(1, 0),
        StepBegin(2), StepExit(2, 100), BuildDone(ok=False), BuildDone(ok=True),
    ]  # fmt: skip
    for event in events:
        build_vm._report(plan, event, reporter)  # type: ignore[arg-type]
    assert reporter.stages == [
        "step 1/2: apt-get update",
        "step 2/2: apt-get install -y curl",
        *powering_off,
    ]
    assert reporter.lines == [
        "Get:1 http://deb.debian.org",
        "step 1/2 exited with status 0",
        "step 2/2 exited with status 100",
    ]
