"""What a kernel can do for a microVM: which drivers are built in, modules, or missing.

The kernel config is the authority; without one, modules.builtin and modules.dep of the
modules tree tell us the same for the drivers we care about.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Literal

FeatureState = Literal["builtin", "module", "absent"]

# feature name -> (Kconfig symbol, module name)
FEATURES: dict[str, tuple[str, str]] = {
    "virtio_mmio": ("CONFIG_VIRTIO_MMIO", "virtio_mmio"),
    "virtio_pci": ("CONFIG_VIRTIO_PCI", "virtio_pci"),
    "virtio_blk": ("CONFIG_VIRTIO_BLK", "virtio_blk"),
    "virtio_net": ("CONFIG_VIRTIO_NET", "virtio_net"),
    "virtio_console": ("CONFIG_VIRTIO_CONSOLE", "virtio_console"),
    "vsock": ("CONFIG_VIRTIO_VSOCKETS", "vmw_vsock_virtio_transport"),
    "ext4": ("CONFIG_EXT4_FS", "ext4"),
    "serial_8250": ("CONFIG_SERIAL_8250", "8250"),
}

# Features whose driver must be loaded before the root disk, network and console appear;
# when any of them is a module the kernel needs a generated initrd.
BOOT_FEATURES = (
    "virtio_mmio",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "vsock",
    "ext4",
)

# Not needed to boot, but to shut down cleanly: the ACPI power button (QEMU's
# system_powerdown) only reaches a guest through these, and a guest root disk rarely
# carries modules for banger's kernel, so the initrd loads them when the kernel has them.
POWER_BUTTON_MODULES = ("button", "evdev")

MMIO_CMDLINE_SYMBOL = "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES"

# Markers around the gzip'd config that CONFIG_IKCONFIG embeds in the kernel image.
IKCONFIG_START = b"IKCFG_ST"
IKCONFIG_END = b"IKCFG_ED"


def parse_config(text: str) -> dict[str, str]:
    """Kconfig `SYMBOL=value` lines; `# SYMBOL is not set` lines are simply absent."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value.strip('"')
    return values


def embedded_config(vmlinux: bytes) -> str | None:
    """The config a CONFIG_IKCONFIG kernel carries inside itself, if any."""
    start = vmlinux.find(IKCONFIG_START)
    if start < 0:
        return None
    end = vmlinux.find(IKCONFIG_END, start)
    if end < 0:
        return None
    try:
        raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
            vmlinux[start + len(IKCONFIG_START) : end]
        )
    except zlib.error:
        return None
    return raw.decode(errors="replace")


def symbol_state(config: Mapping[str, str], symbol: str) -> FeatureState:
    """`=y` is built in, `=m` a module; anything else (or no line at all) is absent."""
    value = config.get(symbol)
    return "builtin" if value == "y" else "module" if value == "m" else "absent"


def features_from_config(config: Mapping[str, str]) -> dict[str, FeatureState]:
    return {feature: symbol_state(config, symbol) for feature, (symbol, _) in FEATURES.items()}


def features_from_modules(builtin: set[str], loadable: set[str]) -> dict[str, FeatureState]:
    states: dict[str, FeatureState] = {}
    for feature, (_, module) in FEATURES.items():
        if module in builtin:
            states[feature] = "builtin"
        elif module in loadable:
            states[feature] = "module"
        else:
            states[feature] = "absent"
    return states


def modules_needed_at_boot(features: dict[str, FeatureState]) -> list[str]:
    """Module names the initrd must load, in a stable order."""
    return [FEATURES[f][1] for f in BOOT_FEATURES if features.get(f) == "module"]
