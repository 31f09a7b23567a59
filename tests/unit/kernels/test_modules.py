"""modules.dep parsing, dependency closure and module decompression."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
import zstandard

from banger.errors import InvalidArgument, NotFound
from banger.kernels.modules import (
    module_name,
    parse_modules_builtin,
    parse_modules_dep,
    plain_module_path,
    read_module,
    resolve_load_order,
)

DEP = (
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko"
    " kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/net/core/failover.ko.xz:\n"
    "kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz\n"
    "kernel/drivers/net/virtio_net.ko.zst: kernel/drivers/net/net_failover.ko.xz"
    " kernel/net/core/failover.ko.xz kernel/drivers/virtio/virtio.ko"
    " kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/tty/serial/8250/8250-dw.ko:\n"
)


def test_module_names_are_normalised() -> None:
    assert module_name("kernel/drivers/net/virtio_net.ko.zst") == "virtio_net"
    assert module_name("kernel/drivers/tty/serial/8250/8250-dw.ko") == "8250_dw"
    assert parse_modules_builtin("kernel/fs/ext4/ext4.ko\n\nkernel/a/b-c.ko\n") == {"ext4", "b_c"}


def test_dependencies_come_first_and_once() -> None:
    table = parse_modules_dep(DEP)
    order = resolve_load_order(["virtio_net", "virtio_mmio"], table)
    assert order == [
        "kernel/net/core/failover.ko.xz",
        "kernel/drivers/net/net_failover.ko.xz",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/net/virtio_net.ko.zst",
        "kernel/drivers/virtio/virtio_mmio.ko",
    ]
    for index, path in enumerate(order):
        deps = table[module_name(path)][1]
        assert all(order.index(dep) < index for dep in deps)


def test_dash_and_underscore_are_the_same_module() -> None:
    assert resolve_load_order(["8250_dw"], parse_modules_dep(DEP)) == [
        "kernel/drivers/tty/serial/8250/8250-dw.ko"
    ]


def test_unknown_module_is_not_found() -> None:
    with pytest.raises(NotFound, match="nope"):
        resolve_load_order(["nope"], parse_modules_dep(DEP))


def test_cycle_is_reported() -> None:
    table = parse_modules_dep("a.ko: b.ko\nb.ko: a.ko\n")
    with pytest.raises(InvalidArgument, match="cycle"):
        resolve_load_order(["a"], table)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".ko", lambda d: d),
        (".ko.xz", lambda d: lzma.compress(d, check=lzma.CHECK_CRC32)),
        (".ko.zst", lambda d: zstandard.ZstdCompressor().compress(d)),
    ],
)
def test_read_module_decompresses(tmp_path: Path, suffix: str, compress) -> None:
    payload = b"\x7fELF" + bytes(range(256)) * 40
    path = tmp_path / f"m{suffix}"
    path.write_bytes(compress(payload))
    assert read_module(path) == payload
    assert plain_module_path(f"kernel/m{suffix}") == "kernel/m.ko"


def test_damaged_module_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.ko.xz"
    path.write_bytes(b"\xfd7zXZ\x00garbage")
    with pytest.raises(InvalidArgument, match="could not be decompressed"):
        read_module(path)
