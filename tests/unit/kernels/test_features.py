"""Feature detection from a kernel config, an embedded config, or the modules tree."""

from __future__ import annotations

import gzip

from banger.kernels import features as feat

CONFIG = """\
CONFIG_VIRTIO=m
CONFIG_VIRTIO_MMIO=y
# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set
CONFIG_VIRTIO_PCI=m
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=m
CONFIG_EXT4_FS=y
CONFIG_SERIAL_8250=y
CONFIG_LOCALVERSION="-x"
"""


def test_features_from_config() -> None:
    config = feat.parse_config(CONFIG)
    assert config["CONFIG_LOCALVERSION"] == "-x"
    states = feat.features_from_config(config)
    assert states == {
        "virtio_mmio": "builtin",
        "virtio_pci": "module",
        "virtio_blk": "builtin",
        "virtio_net": "module",
        "virtio_console": "absent",
        "vsock": "absent",
        "ext4": "builtin",
        "serial_8250": "builtin",
    }
    assert feat.modules_needed_at_boot(states) == ["virtio_pci", "virtio_net"]
    assert feat.MMIO_CMDLINE_SYMBOL not in config


def test_features_from_modules_tree() -> None:
    states = feat.features_from_modules({"ext4", "8250"}, {"virtio_blk", "virtio_mmio"})
    assert states["ext4"] == "builtin"
    assert states["virtio_blk"] == "module"
    assert states["virtio_net"] == "absent"
    assert feat.modules_needed_at_boot(states) == ["virtio_mmio", "virtio_blk"]


def test_all_builtin_needs_no_initrd() -> None:
    config = {symbol: "y" for symbol, _ in feat.FEATURES.values()}
    assert feat.modules_needed_at_boot(feat.features_from_config(config)) == []


def test_embedded_config_is_found() -> None:
    blob = b"\x00" * 100 + b"IKCFG_ST" + gzip.compress(CONFIG.encode()) + b"IKCFG_ED" + b"\x00"
    assert feat.embedded_config(blob) == CONFIG
    assert feat.embedded_config(b"no config here") is None
