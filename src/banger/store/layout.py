"""Every on-disk name under the state directory, in one place (like lima's filenames.go).

docs/ARCHITECTURE.md lists the same tree; tests/unit/store/test_state_layout.py holds
the two to each other. Names that helper packages write themselves (the VMM's sockets, the
kernel importer's files, the OCI caches) are declared here too, and that test pins them to
the helper that writes them: those packages take explicit paths and cannot import the store.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

# A builder's directory name, also its id and lease owner: never hex, unlike a VM id.
BUILDER_PREFIX = "build-"


@dataclass(frozen=True)
class KernelDir:
    """One imported kernel (written by banger.kernels.importer, names of kernels.model)."""

    path: Path

    @property
    def vmlinux(self) -> Path:
        return self.path / "vmlinux"

    @property
    def bzimage(self) -> Path:
        return self.path / "bzImage"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def config(self) -> Path:
        return self.path / "config"

    @property
    def modules(self) -> Path:
        return self.path / "modules"

    @property
    def info(self) -> Path:
        return self.path / "kernel.json"


@dataclass(frozen=True)
class ImageDir:
    """One managed image: a built/pulled rootfs, or the files of a promoted image."""

    ROOTFS: ClassVar[str] = "rootfs.ext4"
    WORK_SEED: ClassVar[str] = "work-seed.ext4"
    KERNEL: ClassVar[str] = "kernel"
    INITRD: ClassVar[str] = "initrd.img"
    MODULES: ClassVar[str] = "modules"  # a member's registered modules directory, copied

    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / self.ROOTFS

    @property
    def work_seed(self) -> Path:
        return self.path / self.WORK_SEED

    @property
    def kernel(self) -> Path:
        return self.path / self.KERNEL

    @property
    def initrd(self) -> Path:
        return self.path / self.INITRD

    @property
    def modules(self) -> Path:
        return self.path / self.MODULES


@dataclass(frozen=True)
class VMDir:
    """One VM's directory: its disks, console, host key and the VMM's sockets."""

    path: Path

    @property
    def root_disk(self) -> Path:
        return self.path / "root.ext4"

    @property
    def work_disk(self) -> Path:
        return self.path / "work.ext4"

    @property
    def console_log(self) -> Path:
        return self.path / "console.log"

    @property
    def host_key(self) -> Path:
        return self.path / "ssh_host_ed25519_key"

    # What the VMM keeps here (vmm.qemu.argv and vmm.firecracker.payloads name them).
    @property
    def qmp_socket(self) -> Path:
        return self.path / "qmp.sock"

    @property
    def qemu_pidfile(self) -> Path:
        return self.path / "qemu.pid"

    @property
    def firecracker_socket(self) -> Path:
        return self.path / "firecracker.sock"

    @property
    def firecracker_log(self) -> Path:
        return self.path / "firecracker.log"

    @property
    def firecracker_metrics(self) -> Path:
        return self.path / "firecracker.metrics"

    @property
    def vsock_socket(self) -> Path:
        return self.path / "vsock.sock"

    @property
    def firecracker_jail(self) -> Path:
        return self.path / "jail"


@dataclass(frozen=True)
class BuilderDir:
    """A builder VM's scratch directory under tmp/ (gone when the build ends)."""

    path: Path

    @property
    def root_disk(self) -> Path:
        return self.path / "root.ext4"

    @property
    def build_disk(self) -> Path:
        return self.path / "build.ext4"

    @property
    def console_log(self) -> Path:
        return self.path / "console.log"

    @property
    def client_key(self) -> Path:
        return self.path / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.path / "known_hosts"

    @property
    def keygen_dir(self) -> Path:
        return self.path / "keygen"

    @property
    def build_tree(self) -> Path:
        """Where images.build_disk stages the build drive's files (removed once built)."""
        return self.path / "build-tree"


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "banger.db"

    @property
    def kernels(self) -> Path:
        return self.root / "kernels"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def vms(self) -> Path:
        return self.root / "vms"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def kvm_verdicts(self) -> Path:
        """Cached KVM probe verdicts (doctor.kvm_cache), keyed by what they depend on."""
        return self.cache / "kvm-verdicts.json"

    # The OCI caches (banger.oci is handed `cache` and derives these itself).
    @property
    def blobs(self) -> Path:
        return self.cache / "blobs" / "sha256"

    @property
    def blob_staging(self) -> Path:
        return self.cache / "tmp"

    @property
    def rootfs_cache(self) -> Path:
        return self.cache / "rootfs"

    def kernel_dir(self, kernel_id: str) -> Path:
        return self.kernels / kernel_id

    def kernel(self, kernel_id: str) -> KernelDir:
        return KernelDir(self.kernel_dir(kernel_id))

    def kernel_staging(self, kernel_id: str) -> Path:
        """The private (0700) work dir of one kernel import or fetch: under tmp/, so even a
        crash leaves it only where the next start empties it, never beside kernels/."""
        return self.tmp / f"kernel-{kernel_id}"

    def image_dir(self, image_id: str) -> Path:
        return self.images / image_id

    def image(self, image_id: str) -> ImageDir:
        return ImageDir(self.image_dir(image_id))

    def image_staging(self, image_id: str) -> Path:
        """Where a new managed image is built; renamed to images/<id> once complete."""
        return self.tmp / f"image-{image_id}"

    def vm_dir(self, vm_id: str) -> Path:
        return self.vms / vm_id

    def vm(self, vm_id: str) -> VMDir:
        return VMDir(self.vm_dir(vm_id))

    def builder(self, token: str) -> BuilderDir:
        """An `image build`'s builder VM directory; its name is the builder's id."""
        return BuilderDir(self.tmp / f"{BUILDER_PREFIX}{token}")

    def ensure(self) -> None:
        """Create the tree (root-only) and empty tmp/, whose leftovers are never trusted.

        The root is 0700: nothing in it is for other users to read directly (images, VM
        disks, operation logs, the database); members get what is theirs through the API.
        """
        for path in (self.root, self.kernels, self.images, self.vms, self.cache, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for leftover in self.tmp.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
