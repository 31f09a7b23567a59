"""One Kconfig parser: what the kernel importer records and what a backend is told at boot
(KernelCaps.from_kconfig) come from the same reading of the same .config text."""

from __future__ import annotations

import pytest

from banger.kernels import importer
from banger.vmm import KernelCaps

CONFIGS = {
    "plain": "CONFIG_VIRTIO_MMIO=m\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n",
    # A config edited by hand or copied through Windows: indented lines and CRLF ends.
    "indented": "  CONFIG_VIRTIO_MMIO=y\r\n\tCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\r\n",
    "quoted": 'CONFIG_VIRTIO_MMIO="m"\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES="y"\n',
    "unset": "# CONFIG_VIRTIO_MMIO is not set\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_boot_caps_agree_with_what_the_importer_recorded(name: str) -> None:
    text = CONFIGS[name]
    recorded, cmdline_devices = importer._detect_features(text, None)
    caps = KernelCaps.from_kconfig(text, has_elf=True)
    assert caps.virtio_mmio == recorded["virtio_mmio"]
    assert caps.mmio_cmdline_devices == cmdline_devices


def test_the_agreement_is_not_vacuous() -> None:
    indented = KernelCaps.from_kconfig(CONFIGS["indented"], has_elf=True)
    assert indented.virtio_mmio == "builtin" and indented.mmio_cmdline_devices
    assert KernelCaps.from_kconfig(CONFIGS["quoted"], has_elf=True).virtio_mmio == "module"
