"""Booting and halting one VM, as named steps with their undo registered at acquisition.

Each start writes the guest settings afresh (address, keys, hostname) into the VM's own
root disk before the VMM opens it: the guest contract of docs/guest.md.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from banger.api.models import VM, Image, Kernel
from banger.daemon.vm_disks import ROOT_DISK, WORK_DISK
from banger.disks import debugfs
from banger.errors import FailedPrecondition
from banger.guest import GuestSettings, kernel_cmdline, render_guest_files
from banger.guest.boot_watch import ConsoleWatch, StallLimits
from banger.network import (
    NetworkConfig,
    allocate_ip,
    create_tap,
    delete_tap,
    ensure_bridge,
    ensure_nat,
    host_dns_servers,
    tap_name,
)
from banger.ops.reporter import Reporter
from banger.store import Database
from banger.vmm import Backend, Drive, KernelCaps, NetIf, VMHandle, VMSpec

log = logging.getLogger("banger.daemon.vms")
BUSYBOX = Path("/bin/busybox")
GUEST_VSOCK_CID = 3  # 0-2 are reserved (hypervisor, local, host)
CONSOLE_LOG = "console.log"
HOST_KEY = "ssh_host_ed25519_key"


@dataclass(frozen=True)
class BootSet:
    kernel: Path
    initrd: Path | None
    caps: KernelCaps


def boot_set(image: Image, kernel: Kernel | None, backend: str) -> BootSet:
    """The kernel file a backend should boot, its initrd, and what the kernel can do."""
    if kernel is not None:
        files = {k: Path(v) for k, v in kernel.files.items()}
        config = files.get("config")
        if config is not None and config.exists():
            caps = KernelCaps.from_kconfig(config.read_text(), has_elf="vmlinux" in files)
        else:
            caps = KernelCaps(
                has_elf="vmlinux" in files,
                mmio_cmdline_devices=kernel.mmio_cmdline_devices,
                virtio_mmio=kernel.features.get("virtio_mmio", "absent"),
            )  # type: ignore[arg-type]
        # QEMU boots the bzImage as distributed; Firecracker needs the ELF vmlinux.
        chosen = files.get("bzImage") if backend == "qemu" else None
        return BootSet(chosen or files["vmlinux"], files.get("initrd"), caps)
    path = Path(image.files["kernel"])
    initrd = Path(image.files["initrd"]) if "initrd" in image.files else None
    with path.open("rb") as f:
        is_elf = f.read(4) == b"\x7fELF"
    caps = KernelCaps(
        has_elf=is_elf, mmio_cmdline_devices=False, virtio_mmio="module" if initrd else "builtin"
    )
    return BootSet(path, initrd, caps)


class Leases:
    """IP leases in SQLite: the table's primary key makes a double allocation impossible.

    An owner is a VM id, or "build-<id>" for a builder VM (no build outlives the daemon,
    so those are released at start-up).
    """

    def __init__(self, db: Database, subnet: str) -> None:
        self.db, self.subnet = db, subnet

    def acquire(self, owner: str, net: NetworkConfig) -> IPv4Address:
        for _ in range(net.subnet.num_addresses):
            rows = self.db.query("SELECT ip FROM ip_leases WHERE subnet = ?", (self.subnet,))
            ip = allocate_ip(net.subnet, {IPv4Address(r["ip"]) for r in rows}, gateway=net.gateway)
            try:
                self.db.execute(
                    "INSERT INTO ip_leases (subnet, ip, owner) VALUES (?,?,?)",
                    (self.subnet, str(ip), owner),
                )
                return ip
            except sqlite3.IntegrityError:
                continue  # another create took it between our read and insert
        raise FailedPrecondition("could not allocate an IP address", hint="retry")

    def release(self, owner: str) -> None:
        self.db.execute("DELETE FROM ip_leases WHERE owner = ?", (owner,))

    def owners(self, prefix: str) -> list[str]:
        rows = self.db.query("SELECT owner FROM ip_leases WHERE owner LIKE ?", (prefix + "%",))
        return [r["owner"] for r in rows]


@dataclass
class Booter:
    db: Database
    net: NetworkConfig
    dns: list[str]
    leases: Leases
    stall: StallLimits = field(default_factory=StallLimits)
    ready_timeout: float = 300.0

    def watch(self, console: Path, accel: str) -> ConsoleWatch:
        """A watch on a guest that has just started (see guest.boot_watch)."""
        return ConsoleWatch(console, self.stall, accel=accel)

    def ensure_network(self) -> None:
        ensure_bridge(self.net)  # ip link add NAME type bridge; ip addr add GW/PREFIX dev NAME
        ensure_nat(self.net)  # nft -f - (table ip banger { postrouting masquerade ... })

    def guest_settings(self, vm: VM, ip: IPv4Address, vm_dir: Path) -> GuestSettings:
        dns = [IPv4Address(d) for d in self.dns] or host_dns_servers()
        private = (vm_dir / HOST_KEY).read_text()
        return GuestSettings(
            hostname=vm.name,
            mac=vm.mac,
            ip=IPv4Interface(f"{ip}/{self.net.subnet.prefixlen}"),
            gateway=self.net.gateway,
            dns=dns,
            authorized_keys=vm.authorized_keys,
            host_key_private=private,
            host_key_public=vm.ssh_host_key,
            work_device="/dev/vdb" if vm.work_disk else None,
        )  # type: ignore[arg-type]

    def start(
        self, vm: VM, vm_dir: Path, boot: BootSet, backend: Backend, accel: str, reporter: Reporter
    ) -> tuple[VM, VMHandle]:
        """Lease an address, write the guest settings, make the tap, start the VMM."""
        with contextlib.ExitStack() as undo:
            reporter.stage("network")
            self.ensure_network()
            ip = self.leases.acquire(vm.id, self.net)
            undo.callback(self.leases.release, vm.id)
            tap = tap_name(vm.id)
            create_tap(
                tap, self.net.bridge
            )  # ip tuntap add dev TAP mode tap; ip link set TAP master BR up
            undo.callback(delete_tap, tap)

            reporter.stage("guest settings")
            settings = self.guest_settings(vm, ip, vm_dir)
            debugfs.write_files(vm_dir / ROOT_DISK, render_guest_files(settings, BUSYBOX))

            drives = [Drive(id="root", path=vm_dir / ROOT_DISK)]
            if vm.work_disk:
                drives.append(Drive(id="work", path=vm_dir / WORK_DISK))
            spec = VMSpec(
                vm_id=vm.id,
                name=vm.name,
                vm_dir=vm_dir,
                cpus=vm.cpus,
                memory_mib=vm.memory_mib,
                kernel=boot.kernel,
                initrd=boot.initrd,
                cmdline=kernel_cmdline(),
                drives=drives,
                net=NetIf(tap=tap, mac=vm.mac),
                console_log=vm_dir / CONSOLE_LOG,
                accel=accel,
                # Firecracker's vsock is a per-VM UNIX socket, so every guest may use the
                # first free CID; QEMU's vhost-vsock would need host-unique CIDs and a
                # vhost_vsock module (absent on these hosts), so QEMU VMs get none.
                vsock_cid=GUEST_VSOCK_CID if backend.name == "firecracker" else None,
            )  # type: ignore[arg-type]
            backend.check_spec(spec, boot.caps)
            reporter.stage(f"start {backend.name}")
            (vm_dir / CONSOLE_LOG).unlink(missing_ok=True)
            handle = backend.start(spec)
            undo.pop_all()
        started = vm.model_copy(
            update={
                "ip": str(ip),
                "tap": tap,
                "pid": handle.pid,
                "accel": accel if backend.name == "qemu" else "kvm",
            }
        )
        return started, handle

    def release(self, vm: VM) -> None:
        """Give back what a running VM held on the host: its tap and its address."""
        delete_tap(vm.tap or tap_name(vm.id))  # ip link del TAP (gone already is fine)
        self.leases.release(vm.id)
