"""Upper bounds on what a registry may make banger download or read into memory.

A manifest declares every blob's size before any download: those declarations are checked
here first, so a hostile registry cannot make the daemon fetch (or, for JSON documents,
hold) more than the image could legitimately need. Downloads then enforce the declared
size byte by byte (registry.fetch_blob), and JSON read back from the cache is read with a
bound too, since a cached blob's real size is whatever its digest pinned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from banger.oci.manifest import Descriptor
from banger.oci.models import ReplayLimits
from banger.oci.registry import MAX_MANIFEST_BYTES
from banger.oci.replay import RejectedLayer

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # the image config, read into memory
# Tar framing per entry at most: header, long name/link or pax header, padding.
_FRAMING_PER_ENTRY = 2048

_HINT = "the registry declares more than any image within banger's limits needs"


def max_layer_bytes(limits: ReplayLimits) -> int:
    """The most all layers together may declare: their file data can be at most
    max_total_bytes, plus tar framing for max_entries entries, plus 1/64 for compression
    that does not compress (gzip and zstd add far less than that)."""
    return (
        limits.max_total_bytes
        + limits.max_total_bytes // 64
        + limits.max_entries * _FRAMING_PER_ENTRY
    )


def check_manifest_size(desc: Descriptor) -> None:
    if desc.size > MAX_MANIFEST_BYTES:
        raise RejectedLayer(
            f"manifest {desc.digest} declares {desc.size} bytes, more than {MAX_MANIFEST_BYTES}",
            hint=_HINT,
        )


def check_layers(config: Descriptor, layers: Sequence[Descriptor], limits: ReplayLimits) -> None:
    """Reject a manifest whose config or layers could not fit the limits, before downloading."""
    if config.size > MAX_CONFIG_BYTES:
        raise RejectedLayer(
            f"image config {config.digest} declares {config.size} bytes, "
            f"more than {MAX_CONFIG_BYTES}",
            hint=_HINT,
        )
    if len(layers) > limits.max_layers:
        raise RejectedLayer(
            f"image has {len(layers)} layers, more than {limits.max_layers}",
            hint="raise ReplayLimits.max_layers",
        )
    cap = max_layer_bytes(limits)
    total = 0
    for layer in layers:
        total += layer.size
        if total > cap:
            raise RejectedLayer(
                f"layer {layer.digest} brings the declared layer sizes to {total} bytes, "
                f"more than {cap} (max_total_bytes plus tar framing)",
                hint=_HINT + "; raise ReplayLimits.max_total_bytes if the image is real",
            )


def read_config(path: Path, digest: str) -> bytes:
    """A cached config blob's bytes, refusing one larger than MAX_CONFIG_BYTES."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise RejectedLayer(
            f"image config {digest} is larger than {MAX_CONFIG_BYTES} bytes", hint=_HINT
        )
    return data
