"""Hostile OCI images for the security suite, pushed to the local test registry.

The hostile layers themselves are the ones the unit tests already replay in a child
process (tests/unit/oci/test_hostile_memory.py, built by tests/unit/oci/rawtar.py); here
they travel the whole way: registry, daemon, a member's `image pull`. Layers are streamed
through zstd while their diff_id is hashed, so a 512 MiB tar never sits in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.helpers.registry import LAYER_ZSTD, OCI_CONFIG, OCI_MANIFEST, RunningRegistry
from tests.unit.oci import rawtar as r
from tests.unit.oci.test_hostile_memory import HOSTILE

SECRET_PATH = "/etc/shadow"


def link(name: str, target: str) -> bytes:
    return r.member(name, typeflag=b"2", linkname=target.encode())


def hard(name: str, target: str) -> bytes:
    return r.member(name, typeflag=b"1", linkname=target.encode())


def node(name: str, typeflag: bytes, major: int, minor: int) -> bytes:
    """A device node (3: char, 4: block); major/minor at their ustar offsets."""
    numbers = {329: r.number(major, 8), 337: r.number(minor, 8)}
    return r.member(name, typeflag=typeflag, mode=0o666, extra=numbers)


# Escapes out of the image: each must refuse the whole image (docs/oci-import.md table).
ESCAPES: dict[str, list[bytes]] = {
    "dotdot-entry": [r.member("../../../../tmp/banger-escaped", b"x")],
    "dotdot-inside": [r.member("etc/../../banger-escaped", b"x")],
    "entry-under-symlink": [link("x", "/etc"), r.member("x/cron.d/evil", b"x")],
    "entry-under-symlink-chain": [
        link("a", "b"),
        link("b", "/root"),
        r.member("a/.ssh/authorized_keys", b"ssh-ed25519 AAAA evil"),
    ],
    "hardlink-dotdot": [hard("h", "../../../etc/shadow")],
    "hardlink-absolute-missing": [hard("h", SECRET_PATH)],
    "hardlink-through-symlink": [link("s", "/etc"), hard("h", "s/shadow")],
    "entry-under-regular-file": [r.member("f", b"x"), r.member("f/child", b"y")],
    "whiteout-through-symlink": [link("s", "/etc"), r.member("s/.wh.passwd")],
}

# Dangerous on a host, harmless inside an image: accepted, but only as inodes in the ext4.
CONTAINED: dict[str, list[bytes]] = {
    "setuid-and-setgid-root-files": [
        r.member("usr/bin/rootshell", b"#!/bin/sh\nid\n", mode=0o4755),
        r.member("usr/bin/groupshell", b"#!/bin/sh\nid\n", mode=0o2755),
    ],
    "device-nodes-and-fifo": [
        node("dev/mem", b"3", 1, 1),
        node("dev/sda", b"4", 8, 0),
        r.member("run/pipe", typeflag=b"6", mode=0o666),
    ],
    "symlinks-to-host-secrets": [
        link("etc/leak", SECRET_PATH),
        link("etc/up", "../../../../../../etc/shadow"),
        link("etc/proc", "/proc/self/environ"),
    ],
    "world-writable-tree": [
        r.member("srv/open", typeflag=b"5", mode=0o777),
        r.member("srv/open/file", b"x", mode=0o666),
    ],
}


def sparse_layer() -> Iterator[bytes]:
    """A 1 GiB old-GNU sparse file holding 8 KiB of data: must stay 8 KiB everywhere."""
    pairs = [(0, 4096), ((1 << 30) - 4096, 4096)]
    yield from r.old_gnu_sparse("var/log/lastlog", 1 << 30, pairs, b"d" * 8192)


def hostile_layers() -> dict[str, Iterable[bytes]]:
    """Every known hostile shape that must end in a clean rejection, as raw tar chunks."""
    layers: dict[str, Iterable[bytes]] = {name: build() for name, build in HOSTILE.items()}
    for name, members in ESCAPES.items():
        layers[name] = [*members, r.END]
    return layers


def _hashed(parts: Iterable[bytes], digest: Any) -> Iterator[bytes]:  # a hashlib hash
    for part in parts:
        digest.update(part)
        yield part


def push_layer(registry: RunningRegistry, repository: str, parts: Iterable[bytes],
               scratch: Path) -> str:  # fmt: skip
    """Push a one-layer image (tag v1) whose layer is the zstd of `parts`; returns its ref."""
    diff = hashlib.sha256()
    blob_path = r.write_zstd(scratch / f"{repository.replace('/', '-')}.zst", _hashed(parts, diff))
    blob = blob_path.read_bytes()
    blob_path.unlink()
    layer = {"mediaType": LAYER_ZSTD, "digest": registry.push_blob(repository, blob),
             "size": len(blob)}  # fmt: skip
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]},
    }).encode()  # fmt: skip
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": registry.push_blob(repository, config),
                   "size": len(config)},
        "layers": [layer],
    }  # fmt: skip
    registry.push_manifest(repository, "v1", json.dumps(manifest).encode(), OCI_MANIFEST)
    return f"{registry.address}/{repository}:v1"
