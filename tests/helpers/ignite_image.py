"""A kernel container image packaged the ignite/flintlock way, from an imported kernel."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.oci.tarbuild import device, directory, file, make_tar, symlink


def ignite_layer(kernel: Path) -> bytes:
    """One uncompressed layer: /boot/vmlinux -> vmlinux-<release>, /boot/config-<release>,
    /lib/modules/<release> (the modules the initrd needs, with the modules.* indexes), plus
    a setuid file and a device node that must not survive a pull."""
    info = json.loads((kernel / "kernel.json").read_text())
    release = info["version"]
    modules = kernel / "modules" / release
    entries = [
        directory("boot"),
        file(f"boot/vmlinux-{release}", (kernel / "vmlinux").read_bytes()),
        symlink("boot/vmlinux", f"vmlinux-{release}"),
        file(f"boot/config-{release}", (kernel / "config").read_bytes()),
        file(f"lib/modules/{release}/evil-suid", b"#!/bin/sh\n", mode=0o4755),
        device("dev/sda", b"4", 8, 0),
    ]
    wanted = [*info["initrd_modules"], *(p.name for p in modules.glob("modules.*"))]
    for rel in wanted:
        entries.append(file(f"lib/modules/{release}/{rel}", (modules / rel).read_bytes()))
    return make_tar(entries)
