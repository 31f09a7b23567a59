"""bzImage -> ELF vmlinux extraction: synthetic images per compressor, and a real kernel."""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct

import lz4.block
import pytest
import zstandard

from banger.errors import InvalidArgument
from banger.kernels import decompress as dc
from banger.kernels.bzimage import bzimage_version, elf_arch, extract_vmlinux
from banger.kernels.source import is_deb, unpack_deb
from tests.helpers.kernel_artifacts import debian_kernel_deb


def fake_elf(machine: int = 62, size: int = 300_000) -> bytes:
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9 + struct.pack("<HH", 2, machine)
    # Repetitive but non-trivial body so every compressor produces several blocks' worth.
    body = bytes((i * 7 + i // 251) % 256 for i in range(size))
    return header + body


def lz4_legacy(data: bytes, block: int = 64 << 10) -> bytes:
    out = bytearray(dc.LZ4_LEGACY_MAGIC)
    for start in range(0, len(data), block):
        chunk = lz4.block.compress(data[start : start + block], store_size=False)
        out += struct.pack("<I", len(chunk)) + chunk
    return bytes(out)


COMPRESSORS = {
    "gzip": lambda d: gzip.compress(d),
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "bzip2": lambda d: bz2.compress(d),
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
    "lz4": lz4_legacy,
}


def fake_bzimage(
    payload: bytes, *, protocol: int = 0x020F, version: str = "6.9.0-test (x@y) #1"
) -> bytes:
    setup_sects = 3
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, protocol)
    version_at = 0x400
    struct.pack_into("<H", setup, 0x20E, version_at - 0x200)
    setup[version_at : version_at + len(version) + 1] = version.encode() + b"\x00"
    # Decompressor stub before the payload, with a stray gzip magic to mislead a scan.
    stub = b"\x90" * 100 + dc.GZIP_MAGIC + b"\x00" * 50
    if protocol >= 0x0208:
        struct.pack_into("<II", setup, 0x248, len(stub), len(payload))
    # The kernel build appends the uncompressed size after the payload.
    return bytes(setup) + stub + payload + struct.pack("<I", 12345) + b"\x00" * 64


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
@pytest.mark.parametrize("protocol", [0x020F, 0x0206], ids=["header", "scan"])
def test_extracts_each_compressor(name: str, protocol: int) -> None:
    elf = fake_elf()
    image = fake_bzimage(COMPRESSORS[name](elf), protocol=protocol)
    extracted = extract_vmlinux(image)
    assert extracted.vmlinux == elf
    assert extracted.compression == name
    assert extracted.arch == "x86_64"
    assert extracted.version == "6.9.0-test"


def test_lz4_legacy_stops_at_size_trailer() -> None:
    data = fake_elf(size=200_000)
    stream = lz4_legacy(data, block=50_000) + struct.pack("<I", len(data))
    assert dc.unlz4_legacy(stream) == data


def test_rejects_payload_that_is_not_elf() -> None:
    image = fake_bzimage(gzip.compress(b"not a kernel" * 100))
    with pytest.raises(InvalidArgument, match="not an ELF"):
        extract_vmlinux(image)


def test_rejects_wrong_architecture() -> None:
    image = fake_bzimage(gzip.compress(fake_elf(machine=183)))
    with pytest.raises(InvalidArgument, match="aarch64, expected x86_64"):
        extract_vmlinux(image, expect_arch="x86_64")


def test_rejects_non_bzimage() -> None:
    with pytest.raises(InvalidArgument, match="not a bzImage"):
        extract_vmlinux(b"\x00" * 4096)


def test_scan_finds_nothing_in_uncompressed_garbage() -> None:
    image = fake_bzimage(b"\x01" * 5000, protocol=0x0206)
    with pytest.raises(InvalidArgument, match="no compressed ELF"):
        extract_vmlinux(image)


def test_corrupt_payload_is_a_clear_error() -> None:
    payload = bytearray(COMPRESSORS["xz"](fake_elf()))
    payload[40:60] = b"\xff" * 20
    with pytest.raises(InvalidArgument, match="could not be decompressed"):
        extract_vmlinux(fake_bzimage(bytes(payload)))


def test_real_debian_cloud_kernel(tmp_path) -> None:
    deb = debian_kernel_deb()
    assert is_deb(deb)
    tree = unpack_deb(deb, tmp_path / "tree")
    (vmlinuz,) = (tree / "boot").glob("vmlinuz-*")
    data = vmlinuz.read_bytes()
    release = vmlinuz.name.removeprefix("vmlinuz-")
    assert bzimage_version(data) == release
    extracted = extract_vmlinux(data, expect_arch="x86_64")
    assert elf_arch(extracted.vmlinux) == "x86_64"
    assert len(extracted.vmlinux) > 3 * len(data)
    assert f"Linux version {release} ".encode() in extracted.vmlinux
