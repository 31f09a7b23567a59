"""Which boot format a kernel file is in, from its magic bytes, checked before publishing.

x86 bzImage: "HdrS" at 0x202 (the setup header, Documentation/arch/x86/boot.rst);
arm64 Image: "ARM\\x64" at 0x38 (Documentation/arch/arm64/booting.rst); ELF vmlinux: the
ELF magic. A file that is none of these is not published: a reader could not boot it.
"""

from __future__ import annotations

from pathlib import Path

from banger.catalog.format import BootFormat
from banger.errors import InvalidArgument
from banger.kernels.bzimage import ELF_MAGIC, HEADER_MAGIC, HEADER_MAGIC_OFFSET

ARM64_MAGIC_OFFSET = 0x38
ARM64_MAGIC = b"ARMd"  # "ARM\x64" little-endian
_HEAD = 0x40


def boot_format(head: bytes) -> BootFormat | None:
    """The format of a kernel file whose first bytes are `head` (at least 0x206 bytes)."""
    if head.startswith(ELF_MAGIC):
        return "elf-vmlinux"
    if head[HEADER_MAGIC_OFFSET : HEADER_MAGIC_OFFSET + 4] == HEADER_MAGIC:
        return "bzImage"
    if head[ARM64_MAGIC_OFFSET : ARM64_MAGIC_OFFSET + 4] == ARM64_MAGIC:
        return "arm64-Image"
    return None


def check_boot_file(path: Path, expected: set[BootFormat], what: str) -> BootFormat:
    """The format of `path`, which must be one of `expected`, or one clear error."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_MAGIC_OFFSET + _HEAD)
    found = boot_format(head)
    if found not in expected:
        shown = found or "no known kernel format"
        raise InvalidArgument(
            f"{what} {path.name} is {shown}, expected {' or '.join(sorted(expected))}",
            hint="the kernel's files are damaged; import the kernel again",
        )
    return found
