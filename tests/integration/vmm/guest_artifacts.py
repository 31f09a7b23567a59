"""Test-only guest artifacts for the VMM tests: Debian's cloud kernel and a busybox initrd.

Built once and cached under BANGER_TEST_CACHE. The initrd's /init prints markers the tests
look for, loads the virtio and ACPI-button modules, and then behaves according to
`banger_test=` on the kernel command line:
  banger_test=poweroff   power off right away (a VM that exits by itself)
  banger_test=button     power off when the ACPI power button is pressed (QMP system_powerdown)
  banger_test=ignore     ignore the power button (forces the SIGTERM fallback)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from banger import proc

CACHE = Path(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache")) / "vmm"
MODULES = [
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "drivers/input/evdev.ko",
    "drivers/acpi/button.ko",
]

INIT_SCRIPT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /bin /sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo BANGER-TEST-BOOTED
for m in /modules/*.ko; do insmod "$m"; done
sleep 1
echo "BANGER-TEST-VDA-SECTORS=$(cat /sys/block/vda/size 2>/dev/null)"
echo "BANGER-TEST-ETH0-MAC=$(cat /sys/class/net/eth0/address 2>/dev/null)"
echo "BANGER-TEST-INPUTS=$(echo /dev/input/event*)"
mode=$(sed -n 's/.*banger_test=\\([a-z]*\\).*/\\1/p' /proc/cmdline)
case "$mode" in
poweroff) echo BANGER-TEST-POWEROFF; poweroff -f ;;
button)
    for ev in /dev/input/event*; do
        (head -c 1 "$ev" >/dev/null; echo BANGER-TEST-BUTTON; poweroff -f) &
    done
    sleep 1 ;;  # let the readers open the event devices: a press before that is lost
esac
echo BANGER-TEST-READY
while true; do sleep 3600; done
"""


@dataclass(frozen=True)
class GuestArtifacts:
    kernel: Path  # bzImage (vmlinuz)
    initrd: Path
    kconfig: Path


def _atomic_dir(final: Path, build: object) -> Path:
    """Build into a temp dir next to `final` with build(tmp) and rename it into place."""
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    tmp.chmod(0o755)
    try:
        build(tmp)  # type: ignore[operator]
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.exists():
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _kernel_package() -> str:
    out = proc.run(["apt-cache", "depends", "linux-image-cloud-amd64"]).stdout
    for line in out.splitlines():
        name = line.split(":", 1)[-1].strip()
        if line.strip().startswith("Depends:") and name.startswith("linux-image-6"):
            return name
    raise RuntimeError(f"no linux-image dependency in: {out}")


def _build_kernel(tmp: Path) -> None:
    package = _kernel_package()
    proc.run(["apt-get", "download", package], cwd=tmp, timeout=600)
    deb = next(tmp.glob("*.deb"))
    tree = tmp / "tree"
    proc.run(["dpkg-deb", "-x", deb, tree], timeout=300)
    version = package.removeprefix("linux-image-")
    shutil.copy(tree / "boot" / f"vmlinuz-{version}", tmp / "vmlinuz")
    shutil.copy(tree / "boot" / f"config-{version}", tmp / "config")
    (tmp / "modules").mkdir()
    for rel in MODULES:
        shutil.copy(tree / "lib/modules" / version / "kernel" / rel, tmp / "modules")
    shutil.rmtree(tree)
    deb.unlink()


def _build_initrd(kernel_dir: Path, tmp: Path) -> None:
    root = tmp / "root"
    (root / "bin").mkdir(parents=True)
    (root / "modules").mkdir()
    shutil.copy(proc.which("busybox"), root / "bin/busybox")
    # Numbered names make the shell glob load them in dependency order.
    for index, rel in enumerate(MODULES):
        name = Path(rel).name
        shutil.copy(kernel_dir / "modules" / name, root / "modules" / f"{index:02d}-{name}")
    init = root / "init"
    init.write_text(INIT_SCRIPT)
    init.chmod(0o755)
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    proc.run(
        ["cpio", "-o", "-H", "newc", "--quiet", "-F", tmp / "initrd.cpio"],
        input="\n".join(names) + "\n",
        cwd=root,
    )
    shutil.rmtree(root)


def guest_artifacts() -> GuestArtifacts:
    kernel_dir = _atomic_dir(CACHE / "kernel", _build_kernel)
    initrd_dir = _atomic_dir(CACHE / "initrd-v3", lambda tmp: _build_initrd(kernel_dir, tmp))
    return GuestArtifacts(
        kernel=kernel_dir / "vmlinuz",
        initrd=initrd_dir / "initrd.cpio",
        kconfig=kernel_dir / "config",
    )
