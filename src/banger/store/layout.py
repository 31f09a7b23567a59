"""Every on-disk name under the state directory, in one place (like lima's filenames.go)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


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
    def keygen_dir(self) -> Path:
        return self.path / "keygen"


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

    def kernel_dir(self, kernel_id: str) -> Path:
        return self.kernels / kernel_id

    def kernel_staging(self, kernel_id: str) -> Path:
        """The private (0700) work dir of one kernel import or fetch: under tmp/, so even a
        crash leaves it only where the next start empties it, never beside kernels/."""
        return self.tmp / f"kernel-{kernel_id}"

    def image_dir(self, image_id: str) -> Path:
        return self.images / image_id

    def vm_dir(self, vm_id: str) -> Path:
        return self.vms / vm_id

    def vm(self, vm_id: str) -> VMDir:
        return VMDir(self.vm_dir(vm_id))

    def builder(self, builder_id: str) -> BuilderDir:
        return BuilderDir(self.tmp / builder_id)

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
