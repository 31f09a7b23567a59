"""The description of an imported kernel, stored as kernel.json and by the daemon."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from banger.kernels.features import FeatureState

# Names of the files inside an imported kernel's directory: one place, like lima's filenames.
VMLINUX = "vmlinux"
BZIMAGE = "bzImage"
INITRD = "initrd.img"
CONFIG = "config"
MODULES = "modules"
KERNEL_JSON = "kernel.json"


class KernelInfo(BaseModel):
    name: str
    version: str
    arch: Literal["x86_64", "aarch64"]
    has_bzimage: bool
    has_initrd: bool
    initrd_generated: bool
    features: dict[str, FeatureState]
    mmio_cmdline_devices: bool
    # Modules the generated initrd loads (dependencies included), in load order.
    initrd_modules: list[str] = []
