"""Decode manifests, indexes and image configs, and pick the platform we run."""

from __future__ import annotations

import json
from dataclasses import dataclass

from banger.errors import InvalidArgument, NotFound
from banger.oci.models import ImageConfig
from banger.oci.reference import is_digest

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(
            f"invalid platform {text!r}", hint="use os/arch[/variant], e.g. linux/amd64"
        )
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _json(body: bytes, what: str) -> dict[str, object]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the C stack
        raise InvalidArgument(
            f"{what} is not valid JSON", hint="the registry served a broken document"
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"{what} is not a JSON object", hint="the registry served a broken document"
        )
    return data


def _descriptor(raw: object, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{what} has a malformed descriptor", hint="the image is broken")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType", "")
    if not isinstance(digest, str) or not is_digest(digest):
        raise InvalidArgument(
            f"{what} has an unsupported digest {str(digest)[:80]!r}",
            hint="only sha256 is supported",
        )
    if not isinstance(size, int) or size < 0:
        raise InvalidArgument(
            f"{what} has an invalid size for {digest}", hint="the image is broken"
        )
    return Descriptor(media_type=str(media_type), digest=digest, size=size)


def media_type_of(body: bytes, header_type: str) -> str:
    """The document's own mediaType wins over the Content-Type header (some registries lie)."""
    declared = _json(body, "manifest").get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    data = _json(body, "manifest")
    if "manifests" in data:
        return "application/vnd.oci.image.index.v1+json"
    return header_type or "application/vnd.oci.image.manifest.v1+json"


def select_platform(body: bytes, wanted: Platform) -> Descriptor:
    data = _json(body, "image index")
    manifests = data.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidArgument("image index has no manifests list", hint="the image is broken")
    available: list[str] = []
    for raw in manifests:
        if not isinstance(raw, dict):
            continue
        plat = raw.get("platform") or {}
        if not isinstance(plat, dict):
            continue
        found = Platform(
            str(plat.get("os", "")), str(plat.get("architecture", "")), str(plat.get("variant", ""))
        )
        available.append(str(found)[:80])
        if (found.os, found.architecture) != (wanted.os, wanted.architecture):
            continue
        # arm64 images often omit the implied v8 variant.
        if wanted.variant and found.variant and wanted.variant != found.variant:
            continue
        return _descriptor(raw, "image index")
    shown = ", ".join(available[:20]) + (
        f" and {len(available) - 20} more" if len(available) > 20 else ""
    )
    raise NotFound(
        f"the image has no {wanted} variant (available: {shown or 'none'})",
        hint="pick one of the available platforms",
    )


def parse_manifest(body: bytes) -> tuple[Descriptor, list[Descriptor]]:
    """Return (config descriptor, layer descriptors) of an image manifest."""
    data = _json(body, "image manifest")
    config = _descriptor(data.get("config"), "image manifest config")
    layers_raw = data.get("layers")
    if not isinstance(layers_raw, list):
        raise InvalidArgument("image manifest has no layers list", hint="the image is broken")
    layers = [_descriptor(raw, "image manifest layer") for raw in layers_raw]
    for layer in layers:
        if layer.media_type and layer.media_type not in LAYER_TYPES:
            raise InvalidArgument(
                f"layer {layer.digest} has unsupported media type {layer.media_type!r}",
                hint="only tar, tar+gzip and tar+zstd layers are supported (no encrypted ones)",
            )
    return config, layers


def parse_config(body: bytes) -> tuple[ImageConfig, list[str], str]:
    """Return (runtime config, rootfs diff_ids, platform string) of an image config blob."""
    data = _json(body, "image config")
    runtime = data.get("config") or {}
    if not isinstance(runtime, dict):
        runtime = {}

    def strings(key: str) -> list[str]:
        value = runtime.get(key)
        return [str(v) for v in value] if isinstance(value, list) else []

    config = ImageConfig(
        entrypoint=strings("Entrypoint"),
        cmd=strings("Cmd"),
        env=strings("Env"),
        working_dir=str(runtime.get("WorkingDir") or ""),
        user=str(runtime.get("User") or ""),
    )
    rootfs = data.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_list = [str(d) for d in diff_ids] if isinstance(diff_ids, list) else []
    platform = Platform(
        str(data.get("os", "")), str(data.get("architecture", "")), str(data.get("variant", ""))
    )
    return config, diff_list, str(platform)
