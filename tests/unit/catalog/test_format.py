"""The catalog format: boot-file magic, manifest and config parsing, and their bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from banger.catalog.bootfile import boot_format, check_boot_file
from banger.catalog.format import (
    ARTIFACT_TYPE,
    CONFIG_TYPE,
    LAYERS,
    MODULES,
    TITLE,
    VMLINUX,
    KernelArtifactConfig,
    Layer,
    build_manifest,
    is_kernel_manifest,
    parse_config,
    parse_kernel_manifest,
)
from banger.catalog.publish import publish_kernel
from banger.errors import InvalidArgument
from banger.kernels.model import KernelInfo
from banger.oci.manifest import Descriptor
from banger.ops.reporter import NullReporter

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _with(offset: int, magic: bytes, size: int = 0x300) -> bytes:
    data = bytearray(size)
    data[offset : offset + len(magic)] = magic
    return bytes(data)


def test_boot_formats_are_told_by_their_magic() -> None:
    assert boot_format(b"\x7fELF" + bytes(0x300)) == "elf-vmlinux"
    assert boot_format(_with(0x202, b"HdrS")) == "bzImage"
    assert boot_format(_with(0x38, b"ARMd")) == "arm64-Image"
    assert boot_format(_with(0x203, b"HdrS")) is None  # one byte off is not a bzImage
    assert boot_format(bytes(0x300)) is None


def test_check_boot_file_refuses_the_wrong_format(tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    path.write_bytes(_with(0x202, b"HdrS"))
    assert check_boot_file(path, {"bzImage"}, "kernel file") == "bzImage"
    with pytest.raises(InvalidArgument, match="is bzImage, expected elf-vmlinux"):
        check_boot_file(path, {"elf-vmlinux"}, "kernel file")


def test_publish_checks_the_boot_file_before_any_network(tmp_path: Path) -> None:
    kernel = tmp_path / "k"
    kernel.mkdir()
    info = KernelInfo(
        name="k",
        version="6.1.0-1-amd64",
        arch="x86_64",
        has_bzimage=False,
        has_initrd=False,
        initrd_generated=False,
        features={},
        mmio_cmdline_devices=False,
    )
    (kernel / "kernel.json").write_text(info.model_dump_json())
    (kernel / "vmlinux").write_bytes(b"MZ not a kernel" + bytes(0x300))
    # Port 9 (discard) on loopback: were anything sent, this would fail differently.
    with pytest.raises(InvalidArgument, match="vmlinux is no known kernel format"):
        publish_kernel(
            kernel, "127.0.0.1:9/k/k:1", cache_dir=tmp_path / "cache", reporter=NullReporter()
        )
    assert not (tmp_path / "cache").exists()


def test_publish_refuses_a_digest_reference(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="a digest names content"):
        publish_kernel(
            tmp_path, f"127.0.0.1:9/k/k@{D1}", cache_dir=tmp_path, reporter=NullReporter()
        )


def _config(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "formatVersion": 1,
        "release": "6.1.0-28-cloud-amd64",
        "arch": "x86_64",
        "bootFormat": "bzImage",
        "vmms": ["qemu"],
        "features": {"ext4": "builtin"},
        "needsModules": True,
        "needsInitrd": True,
        "bangerVersion": "0.1.0",
        "someFutureField": {"ignored": True},
    }
    doc.update(overrides)
    return doc


def test_config_round_trips_under_its_documented_names() -> None:
    config = parse_config(json.dumps(_config()).encode())
    assert config.release == "6.1.0-28-cloud-amd64" and config.boot_format == "bzImage"
    written = json.loads(config.to_json())
    assert written["bootFormat"] == "bzImage" and written["needsInitrd"] is True
    assert "someFutureField" not in written
    assert KernelArtifactConfig.model_validate_json(config.to_json()) == config


@pytest.mark.parametrize(
    "override",
    [
        {"release": "../../etc"},  # would name a path outside the staging tree
        {"release": "-o"},  # would be an option to depmod
        {"formatVersion": 2},
        {"arch": "riscv64"},
        {"bootFormat": "uImage"},
    ],
)
def test_config_refuses_what_a_reader_cannot_trust(override: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="kernel artifact: config field"):
        parse_config(json.dumps(_config(**override)).encode())


def _manifest(layers: list[dict[str, object]], config_type: str = CONFIG_TYPE) -> dict:  # type: ignore[type-arg]
    return {
        "schemaVersion": 2,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": config_type, "digest": D1, "size": 100},
        "layers": layers,
    }


def _layer(title: str, digest: str = D2, size: int = 10) -> dict[str, object]:
    return {
        "mediaType": LAYERS[title][0] if title in LAYERS else "x/y",
        "digest": digest,
        "size": size,
        "annotations": {TITLE: title},
    }


def test_built_manifest_parses_back_and_names_every_file() -> None:
    layers = [
        Layer(VMLINUX, Descriptor(LAYERS[VMLINUX][0], D2, 10)),
        Layer(MODULES, Descriptor(LAYERS[MODULES][0], D3, 20)),
    ]
    body = build_manifest(Descriptor(CONFIG_TYPE, D1, 100), layers)
    data = json.loads(body)
    assert data["artifactType"] == ARTIFACT_TYPE and is_kernel_manifest(data)
    assert [entry["annotations"][TITLE] for entry in data["layers"]] == [VMLINUX, MODULES]
    parsed = parse_kernel_manifest(data)
    assert parsed.layers[MODULES].descriptor.digest == D3
    # Canonical: the same kernel published twice has the same manifest digest.
    assert build_manifest(Descriptor(CONFIG_TYPE, D1, 100), layers) == body


def test_unknown_files_are_ignored_as_the_spec_asks() -> None:
    parsed = parse_kernel_manifest(_manifest([_layer(VMLINUX), _layer("signature.sig", D3)]))
    assert set(parsed.layers) == {VMLINUX}


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (_manifest([_layer("initrd.img")]), "no layer titled vmlinux or bzImage"),
        (_manifest([_layer(VMLINUX), _layer(VMLINUX, D3)]), "two layers are titled vmlinux"),
        (_manifest([_layer(VMLINUX, size=LAYERS[VMLINUX][1] + 1)]), "vmlinux declares"),
        (_manifest([_layer(VMLINUX)], config_type="application/json"), "config has media type"),
        (_manifest([_layer(VMLINUX, digest="md5:abc")]), "unsupported digest"),
    ],
)
def test_broken_or_oversized_manifests_are_refused(manifest: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument, match=message):
        parse_kernel_manifest(manifest)


def test_a_container_image_is_not_taken_for_a_kernel_artifact() -> None:
    image = _manifest([], config_type="application/vnd.oci.image.config.v1+json")
    del image["artifactType"]
    assert not is_kernel_manifest(image)
