"""The kernel catalog's OCI artifact format, version 1 (docs/kernel-catalog.md).

One image manifest per architecture, `artifactType` ARTIFACT_TYPE, a JSON config of
CONFIG_TYPE (KernelArtifactConfig), and one layer per file named by its
`org.opencontainers.image.title` annotation. Several architectures: an image index whose
entries carry `platform` and `artifactType`. Readers ignore fields and layers they do
not know, as the OCI spec asks of clients.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from banger.errors import InvalidArgument
from banger.kernels.importer import CONFIG_LIMIT, INITRD_LIMIT, KERNEL_LIMIT, RELEASE
from banger.kernels.safetar import MAX_BYTES as MODULES_LIMIT
from banger.oci.manifest import Descriptor
from banger.oci.reference import is_digest

FORMAT_VERSION = 1
ARTIFACT_TYPE = "application/vnd.banger.kernel.v1"
CONFIG_TYPE = "application/vnd.banger.kernel.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
TITLE = "org.opencontainers.image.title"
MAX_CONFIG_BYTES = 1024 * 1024

# Files of a kernel artifact: title -> (layer media type, most bytes a reader accepts).
# Custom types where a standard one would mislead (an image-layer type would make
# container tools unpack a kernel as a root filesystem).
VMLINUX, BZIMAGE, INITRD, CONFIG, MODULES = (
    "vmlinux",
    "bzImage",
    "initrd.img",
    "config",
    "modules.tar.gz",
)
LAYERS: dict[str, tuple[str, int]] = {
    VMLINUX: ("application/vnd.banger.kernel.vmlinux.v1", KERNEL_LIMIT),
    BZIMAGE: ("application/vnd.banger.kernel.bzimage.v1", KERNEL_LIMIT),
    INITRD: ("application/vnd.banger.kernel.initrd.v1", INITRD_LIMIT),
    CONFIG: ("text/plain", CONFIG_LIMIT),
    MODULES: ("application/vnd.banger.kernel.modules.v1.tar+gzip", MODULES_LIMIT),
}
# The OCI platform architecture of each kernel architecture banger knows.
OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# What banger adds to every guest's command line besides root= and init= (guest/cmdline.py).
DEFAULT_CMDLINE = "console=ttyS0 reboot=k panic=1"

BootFormat = Literal["elf-vmlinux", "bzImage", "arm64-Image"]


class KernelSource(BaseModel):
    package: str = ""
    version: str = ""


class KernelArtifactConfig(BaseModel):
    """The config blob: what a reader needs to know before it downloads the files."""

    # Newer fields are ignored; banger builds it by field name, readers see the aliases.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    format_version: Literal[1] = Field(default=FORMAT_VERSION, alias="formatVersion")
    # It names lib/modules/<release> and boot/config-<release>: a release, nothing else.
    release: str = Field(pattern=f"^{RELEASE.pattern}$", max_length=128)
    arch: Literal["x86_64", "aarch64"]
    boot_format: BootFormat = Field(alias="bootFormat")
    vmms: list[str]
    features: dict[str, str]
    mmio_cmdline_devices: bool = Field(default=False, alias="mmioCmdlineDevices")
    cmdline: str = DEFAULT_CMDLINE
    needs_modules: bool = Field(alias="needsModules")
    needs_initrd: bool = Field(alias="needsInitrd")
    initrd_modules: list[str] = Field(default_factory=list, alias="initrdModules")
    source: KernelSource = Field(default_factory=KernelSource)
    banger_version: str = Field(alias="bangerVersion")

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(by_alias=True), indent=2, sort_keys=True).encode()


@dataclass(frozen=True)
class Layer:
    title: str
    descriptor: Descriptor


@dataclass(frozen=True)
class KernelManifest:
    config: Descriptor
    layers: dict[str, Layer]  # by title; files a reader does not know are left out


def descriptor_json(desc: Descriptor, title: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "mediaType": desc.media_type,
        "digest": desc.digest,
        "size": desc.size,
    }
    if title is not None:
        out["annotations"] = {TITLE: title}
    return out


def build_manifest(config: Descriptor, layers: list[Layer]) -> bytes:
    """The manifest body, canonical (sorted keys, no spaces, no timestamp): publishing the
    same kernel twice yields the same digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor_json(config),
        "layers": [descriptor_json(layer.descriptor, layer.title) for layer in layers],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def _bad(what: str) -> InvalidArgument:
    return InvalidArgument(
        f"kernel artifact: {what}", hint="the artifact is broken or not banger's"
    )


def _descriptor(raw: object, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise _bad(f"{what} is not a descriptor")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType")
    if not isinstance(digest, str) or not is_digest(digest):
        raise _bad(f"{what} has an unsupported digest {str(digest)[:80]!r}")
    if not isinstance(size, int) or size < 0 or not isinstance(media_type, str):
        raise _bad(f"{what} has no valid size or media type")
    return Descriptor(media_type=media_type, digest=digest, size=size)


def is_kernel_manifest(data: dict[str, object]) -> bool:
    config = data.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    return data.get("artifactType") == ARTIFACT_TYPE or config_type == CONFIG_TYPE


def parse_kernel_manifest(data: dict[str, object]) -> KernelManifest:
    """The config and the known files of a kernel manifest, each size within its bound."""
    config = _descriptor(data.get("config"), "config")
    if config.media_type != CONFIG_TYPE:
        raise _bad(f"config has media type {config.media_type!r}, expected {CONFIG_TYPE}")
    if config.size > MAX_CONFIG_BYTES:
        raise _bad(f"config declares {config.size} bytes, more than {MAX_CONFIG_BYTES}")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list):
        raise _bad("no layers list")
    layers: dict[str, Layer] = {}
    for raw in raw_layers:
        desc = _descriptor(raw, "layer")
        annotations = raw.get("annotations") if isinstance(raw, dict) else None
        title = annotations.get(TITLE) if isinstance(annotations, dict) else None
        if title not in LAYERS:
            continue  # a file this version does not know: ignored, as the spec asks
        if title in layers:
            raise _bad(f"two layers are titled {title}")
        limit = LAYERS[title][1]
        if desc.size > limit:
            raise _bad(f"{title} declares {desc.size} bytes, more than {limit}")
        layers[title] = Layer(title, desc)
    if VMLINUX not in layers and BZIMAGE not in layers:
        raise _bad("no layer titled vmlinux or bzImage")
    return KernelManifest(config, layers)


def parse_config(body: bytes) -> KernelArtifactConfig:
    try:
        return KernelArtifactConfig.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _bad(f"config field {where}: {first['msg']}") from None
