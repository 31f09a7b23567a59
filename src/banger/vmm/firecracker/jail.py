"""Running Firecracker under its jailer: chroot, unprivileged uid/gid, cgroups.

The production posture Firecracker recommends. The jailer (run as root) makes
`<vm_dir>/jail/firecracker/<id>/root`, creates /dev/kvm and /dev/net/tun in it, joins the
cgroups, chroots, drops to uid/gid and execs Firecracker in place (same pid). Everything
Firecracker opens must therefore be inside that root and readable by uid/gid: the VM's own
disks are hard-linked in and handed to uid/gid; the kernel and initrd are shared between VMs
(and 0600 root), so they are copied. Inside the jail Firecracker's files keep the names
they have in a VM directory, at the jail root, so the host-side `runtime_paths(jail root)`
names the same files.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from banger.vmm.base import Drive, VMSpec
from banger.vmm.firecracker.payloads import RuntimePaths, runtime_paths

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class JailSettings:
    jailer_bin: str
    uid: int
    gid: int
    cgroups: tuple[str, ...] = ()  # "<file>=<value>", e.g. "cpu.shares=512" (v1)


def jail_id(vm_id: str) -> str:
    return vm_id.replace("_", "-")  # the jailer, like --id, takes [A-Za-z0-9-] only


def chroot_base(vm_dir: Path) -> Path:
    return vm_dir / "jail"


def jail_root(vm_dir: Path, vm_id: str) -> Path:
    """Where the jailer chroots: <chroot base>/<exec file name>/<id>/root."""
    return chroot_base(vm_dir) / "firecracker" / jail_id(vm_id) / "root"


def cgroup_version() -> int:
    return 2 if (CGROUP_ROOT / "cgroup.controllers").exists() else 1


def _give(path: Path, settings: JailSettings) -> None:
    os.chown(path, settings.uid, settings.gid)


def _link_in(source: Path, target: Path, settings: JailSettings) -> None:
    """The VM's own disk, hard-linked in (no copy) and handed to the jail's uid/gid."""
    try:
        os.link(source, target)
    except OSError:  # another filesystem: a reflink or a full copy
        shutil.copyfile(source, target)
    _give(target, settings)


def stage(spec: VMSpec, settings: JailSettings) -> tuple[VMSpec, RuntimePaths]:
    """Populate the jail root; return the spec as seen from inside it and the inner paths."""
    root = jail_root(spec.vm_dir, spec.vm_id)
    shutil.rmtree(chroot_base(spec.vm_dir), ignore_errors=True)  # a previous boot's jail
    root.mkdir(parents=True, mode=0o700)
    shutil.copyfile(spec.kernel, root / "vmlinux")  # shared and root-only: copied
    _give(root / "vmlinux", settings)
    initrd = None
    if spec.initrd is not None:
        shutil.copyfile(spec.initrd, root / "initrd.img")
        _give(root / "initrd.img", settings)
        initrd = Path("/initrd.img")
    drives = []
    for drive in spec.drives:
        _link_in(drive.path, root / f"{drive.id}.img", settings)
        drives.append(Drive(id=drive.id, path=Path(f"/{drive.id}.img"), read_only=drive.read_only))
    inner = runtime_paths(Path("/"))
    for name in (inner.log, inner.metrics):
        (root / name.name).touch()
        _give(root / name.name, settings)
    jailed = spec.model_copy(
        update={"kernel": Path("/vmlinux"), "initrd": initrd, "drives": drives}
    )
    return jailed, inner


def argv(settings: JailSettings, firecracker_bin: str, spec: VMSpec) -> list[str]:
    """The jailer's command line; what follows `--` goes to Firecracker."""
    args = [settings.jailer_bin, "--id", jail_id(spec.vm_id), "--exec-file", firecracker_bin]
    args += ["--uid", str(settings.uid), "--gid", str(settings.gid)]
    args += ["--chroot-base-dir", str(chroot_base(spec.vm_dir))]
    if settings.cgroups:
        args += ["--cgroup-version", str(cgroup_version())]
        for cgroup in settings.cgroups:
            args += ["--cgroup", cgroup]
    return [*args, "--"]


def release(vm_id: str, busy_seconds: float = 2.0) -> None:
    """After the jailed Firecracker is gone: its cgroups (the jailer never removes them).

    The kernel drops a dead task from its cgroup a moment after it is reaped, so a cgroup
    still busy is retried briefly; one that stays busy (a live task: a reused pid's, say)
    is left alone."""
    leaf = Path("firecracker") / jail_id(vm_id)
    candidates = [CGROUP_ROOT / leaf] + [c / leaf for c in CGROUP_ROOT.iterdir() if c.is_dir()]
    deadline = time.monotonic() + busy_seconds
    for cgroup in candidates:
        while cgroup.is_dir():
            try:
                cgroup.rmdir()
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    break
                time.sleep(0.02)
