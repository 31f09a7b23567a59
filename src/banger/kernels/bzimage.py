"""Turn an x86 bzImage into the uncompressed ELF vmlinux, in pure Python.

Firecracker on x86_64 boots only an ELF vmlinux, while distributions ship a bzImage.
The bzImage's setup header (Documentation/x86/boot.rst) says where the compressed
payload is; older images lack those fields, so we fall back to scanning for a magic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from banger.errors import InvalidArgument
from banger.kernels import decompress as dc

ELF_MAGIC = b"\x7fELF"
# e_machine values from the ELF spec.
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}

SETUP_SECTS_OFFSET = 0x1F1
HEADER_MAGIC_OFFSET = 0x202
HEADER_MAGIC = b"HdrS"
PROTOCOL_OFFSET = 0x206
KERNEL_VERSION_OFFSET = 0x20E
PAYLOAD_OFFSET_OFFSET = 0x248
PAYLOAD_LENGTH_OFFSET = 0x24C
# payload_offset/payload_length exist from boot protocol 2.08 on.
PAYLOAD_FIELDS_PROTOCOL = 0x0208


@dataclass(frozen=True)
class Extracted:
    vmlinux: bytes
    arch: str
    compression: str
    version: str | None


def is_bzimage(data: bytes) -> bool:
    return data[HEADER_MAGIC_OFFSET : HEADER_MAGIC_OFFSET + 4] == HEADER_MAGIC


def elf_arch(data: bytes) -> str | None:
    """The architecture of an ELF image, or None when `data` is not a known ELF."""
    if len(data) < 20 or not data.startswith(ELF_MAGIC):
        return None
    byteorder = "<" if data[5] == 1 else ">"
    (machine,) = struct.unpack_from(byteorder + "H", data, 18)
    return ELF_MACHINES.get(machine)


def bzimage_version(data: bytes) -> str | None:
    """The release from the version string the setup header points to ("6.1.0-28-...")."""
    if not is_bzimage(data):
        return None
    (pointer,) = struct.unpack_from("<H", data, KERNEL_VERSION_OFFSET)
    if pointer == 0:
        return None
    start = pointer + 0x200
    end = data.find(b"\x00", start, start + 512)
    if end < 0:
        return None
    text = data[start:end].decode("ascii", errors="replace").strip()
    return text.split()[0] if text else None


def _setup_size(data: bytes) -> int:
    setup_sects = data[SETUP_SECTS_OFFSET] or 4  # 0 means 4 for ancient images
    return (setup_sects + 1) * 512


def _header_payload(data: bytes) -> bytes | None:
    (protocol,) = struct.unpack_from("<H", data, PROTOCOL_OFFSET)
    if protocol < PAYLOAD_FIELDS_PROTOCOL:
        return None
    offset, length = struct.unpack_from("<II", data, PAYLOAD_OFFSET_OFFSET)
    start = _setup_size(data) + offset
    if length == 0 or start + length > len(data):
        return None
    return data[start : start + length]


def _scan_candidates(data: bytes) -> list[int]:
    """Offsets of every compressor magic in the image, in file order."""
    hits: list[int] = []
    for _, magic, _ in dc.DECOMPRESSORS:
        pos = data.find(magic)
        while pos >= 0:
            hits.append(pos)
            pos = data.find(magic, pos + 1)
    return sorted(hits)


def _as_elf(name: str, raw: bytes) -> Extracted | None:
    arch = elf_arch(raw)
    if arch is None:
        return None
    return Extracted(vmlinux=raw, arch=arch, compression=name, version=None)


def extract_vmlinux(data: bytes, *, expect_arch: str | None = None) -> Extracted:
    """Decompress a bzImage's payload and check it is an ELF of the expected arch."""
    if not is_bzimage(data):
        raise InvalidArgument(
            "file is not a bzImage (no 'HdrS' setup header)",
            hint="pass a bzImage/vmlinuz, an ELF vmlinux, a kernel .deb or an unpacked tree",
        )
    version = bzimage_version(data)
    found: Extracted | None = None
    payload = _header_payload(data)
    if payload is not None:
        name, raw = dc.decompress(payload)
        found = _as_elf(name, raw)
        if found is None:
            raise InvalidArgument(
                f"the bzImage's {name} payload is not an ELF kernel",
                hint="the image may be damaged or not a Linux kernel",
            )
    else:
        # Magic bytes also occur by chance inside code; try each until one yields an ELF.
        for pos in _scan_candidates(data):
            try:
                name, raw = dc.decompress(data[pos:])
            except InvalidArgument:
                continue
            found = _as_elf(name, raw)
            if found is not None:
                break
    if found is None:
        raise InvalidArgument(
            "no compressed ELF kernel found inside the bzImage",
            hint="supported payloads: gzip, xz, zstd, lz4 (legacy), bzip2, lzma",
        )
    if expect_arch is not None and found.arch != expect_arch:
        raise InvalidArgument(
            f"kernel is built for {found.arch}, expected {expect_arch}",
            hint="import a kernel for this host's architecture",
        )
    return Extracted(found.vmlinux, found.arch, found.compression, version)
