"""Builders of kernel inputs for the security tests: a tiny fake kernel, trees and .debs.

The fake kernel is what the importer needs and no more: an x86_64 ELF header and the
"Linux version" banner. Its config builds every boot driver in, so an import needs no
modules and no initrd and takes milliseconds.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tarfile
from pathlib import Path

from banger.kernels.features import BOOT_FEATURES, FEATURES

FAKE_VERSION = "6.1.0-fake"
BUILTIN_CONFIG = "# fake\n" + "".join(f"{FEATURES[f][0]}=y\n" for f in BOOT_FEATURES)
# What a root-only file holds in these tests; it must never show up in banger's state.
SECRET = b"BANGER-TEST-SECRET-6f1d0c"


def fake_kernel() -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5], header[6] = 2, 1, 1  # 64-bit, little endian, version 1
    struct.pack_into("<H", header, 18, 62)  # e_machine: x86_64
    return bytes(header) + f"Linux version {FAKE_VERSION} (fake@banger) #1\0".encode()


def kernel_tree(root: Path, *, config: str | None = BUILTIN_CONFIG) -> Path:
    """root/boot/vmlinuz-VERSION and boot/config-VERSION, like an unpacked kernel package."""
    boot = root / "boot"
    boot.mkdir(parents=True)
    (boot / f"vmlinuz-{FAKE_VERSION}").write_bytes(fake_kernel())
    if config is not None:
        (boot / f"config-{FAKE_VERSION}").write_text(config)
    return root


def build_deb(tree: Path, out: Path) -> Path:
    """`dpkg-deb --build` of `tree` (which gets a DEBIAN/control), owned by root."""
    control = tree / "DEBIAN"
    control.mkdir(exist_ok=True)
    (control / "control").write_text(
        "Package: linux-image-fake\nVersion: 1\nArchitecture: all\n"
        "Maintainer: banger tests <tests@banger.invalid>\nDescription: hostile test package\n"
    )
    # dpkg-deb insists on 0755 for DEBIAN/, whatever umask another test left behind.
    os.chmod(control, 0o755)
    os.chmod(control / "control", 0o644)
    built = subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return out


def secret_file(directory: Path) -> Path:
    """A root-only (0600) file holding SECRET, like /etc/shadow."""
    path = directory / "secret"
    path.write_bytes(SECRET + b"\n")
    os.chmod(path, 0o600)
    return path


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    """An uncompressed tar of hand-made members (data only for regular files)."""
    import io

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Regular files under root whose contents include `needle` (symlinks not followed)."""
    found = []
    for current, _, names in os.walk(root):
        for name in names:
            path = Path(current) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found
