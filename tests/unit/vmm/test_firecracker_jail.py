"""The jail a jailed Firecracker sees: its command line and the files staged into its root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from banger.config.models import DaemonConfig
from banger.vmm import Drive, VMSpec
from banger.vmm.firecracker import jail

SETTINGS = jail.JailSettings(jailer_bin="/usr/bin/jailer", uid=40123, gid=40124)


def _spec(tmp_path: Path) -> VMSpec:
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "vmlinux").write_bytes(b"\x7fELF kernel")
    (kernels / "vmlinux").chmod(0o600)
    (kernels / "initrd.img").write_bytes(b"initrd")
    vm_dir = tmp_path / "vm"
    vm_dir.mkdir()
    for name in ("root.ext4", "work.ext4"):
        (vm_dir / name).write_bytes(b"disk")
    return VMSpec(
        vm_id="vm_1",
        name="one",
        vm_dir=vm_dir,
        cpus=1,
        memory_mib=128,
        kernel=kernels / "vmlinux",
        initrd=kernels / "initrd.img",
        cmdline="console=ttyS0",
        drives=[
            Drive(id="root", path=vm_dir / "root.ext4"),
            Drive(id="work", path=vm_dir / "work.ext4", read_only=True),
        ],
        console_log=vm_dir / "console.log",
    )


def test_the_jailer_command_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    with_cgroups = jail.JailSettings("/j", 5, 6, cgroups=("cpu.shares=512",))
    argv = jail.argv(with_cgroups, "/opt/firecracker", spec)
    assert argv[:5] == ["/j", "--id", "vm-1", "--exec-file", "/opt/firecracker"]
    assert argv[argv.index("--uid") + 1] == "5" and argv[argv.index("--gid") + 1] == "6"
    assert argv[argv.index("--chroot-base-dir") + 1] == str(spec.vm_dir / "jail")
    assert argv[argv.index("--cgroup") + 1] == "cpu.shares=512"
    assert argv[argv.index("--cgroup-version") + 1] == str(jail.cgroup_version())
    assert argv[-1] == "--"  # Firecracker's own arguments follow
    assert "--cgroup" not in jail.argv(SETTINGS, "/opt/firecracker", spec)


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another uid needs root")
def test_stage_links_the_vms_disks_copies_shared_files_and_hands_them_over(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    stale = jail.jail_root(spec.vm_dir, spec.vm_id) / "firecracker.sock"
    stale.parent.mkdir(parents=True)
    stale.write_text("left by a killed Firecracker")
    inner_spec, inner = jail.stage(spec, SETTINGS)
    root = jail.jail_root(spec.vm_dir, spec.vm_id)
    assert root == spec.vm_dir / "jail" / "firecracker" / "vm-1" / "root"
    assert not stale.exists()  # every start gets a fresh jail
    assert inner_spec.kernel == Path("/vmlinux") and inner_spec.initrd == Path("/initrd.img")
    assert [d.path for d in inner_spec.drives] == [Path("/root.img"), Path("/work.img")]
    assert inner_spec.drives[1].read_only
    assert inner.api_socket == Path("/firecracker.sock") and inner.vsock == Path("/vsock.sock")
    # The VM's own disks: the same inode, now the jail's. Shared kernel: a copy, so the
    # original stays root's.
    assert (root / "root.img").stat().st_ino == (spec.vm_dir / "root.ext4").stat().st_ino
    assert (root / "root.img").stat().st_uid == 40123
    assert (root / "vmlinux").stat().st_ino != spec.kernel.stat().st_ino
    assert spec.kernel.stat().st_uid == 0
    for name in ("vmlinux", "initrd.img", "firecracker.log", "firecracker.metrics"):
        assert ((root / name).stat().st_uid, (root / name).stat().st_gid) == (40123, 40124)


def test_use_jailer_needs_dedicated_ids() -> None:
    with pytest.raises(ValidationError, match="jailer_uid and jailer_gid"):
        DaemonConfig(use_jailer=True)
    with pytest.raises(ValidationError):
        DaemonConfig(use_jailer=True, jailer_uid=0, jailer_gid=0)  # root defeats the point
    with pytest.raises(ValidationError, match="is not <cgroup file>=<value>"):
        DaemonConfig(jailer_cgroups=["cpu.shares"])
    config = DaemonConfig(use_jailer=True, jailer_uid=400, jailer_gid=400)
    assert config.use_jailer and config.jailer_cgroups == []
