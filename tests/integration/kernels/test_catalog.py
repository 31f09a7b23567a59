"""The kernel catalog against Debian's real docker-registry on loopback, with the real
Debian cloud kernel: publish, pull (by tag, digest, platform), interop with skopeo and
oras, tampering, the warm re-pull, and an ignite-style kernel image."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from banger.catalog import ARTIFACT_TYPE, publish_kernel, pull_kernel, resolve_kernel_ref
from banger.catalog.format import (
    CONFIG_TYPE,
    LAYERS,
    VMLINUX,
    KernelArtifactConfig,
    Layer,
    build_manifest,
)
from banger.errors import NotFound, PermissionDenied
from banger.oci import DigestMismatch
from banger.oci.auth import DockerConfig
from banger.oci.manifest import Descriptor
from banger.ops.reporter import NullReporter
from tests.helpers.ignite_image import ignite_layer
from tests.helpers.kernel_artifacts import debian_kernel
from tests.helpers.registry import (
    LAYER_TAR,
    OCI_INDEX,
    OCI_MANIFEST,
    RunningRegistry,
    TokenServer,
    sha256,
    start_registry,
)

pytestmark = pytest.mark.integration

FILES = ("vmlinux", "bzImage", "initrd.img", "config")


@dataclass(frozen=True)
class Published:
    kernel: Path  # the imported Debian kernel that was published
    ref: str
    digest: str


@pytest.fixture(scope="module")
def published(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Published:
    kernel = debian_kernel()
    ref = f"{registry.address}/kernels/debian:6.1"
    out = publish_kernel(
        kernel,
        ref,
        cache_dir=tmp_path_factory.mktemp("publisher") / "cache",
        reporter=NullReporter(),
        insecure_registries=[registry.address],
    )
    assert out.uploaded == 6 and out.skipped == 0  # 4 files, modules.tar.gz, config
    return Published(kernel, ref, out.digest)


def pull(registry: RunningRegistry, ref: str, tmp: Path, cache: Path, **kw: object):  # type: ignore[no-untyped-def]
    tmp.mkdir(parents=True, exist_ok=True)
    return pull_kernel(
        ref,
        tmp / "kernel",
        name="k2",
        cache_dir=cache,
        work_dir=tmp / "work",
        reporter=NullReporter(),
        insecure_registries=[registry.address],
        **kw,  # type: ignore[arg-type]
    )


def test_pull_is_byte_identical_and_a_repull_fetches_nothing(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    got = pull(registry, published.ref, tmp_path / "a", cache)
    assert got.kind == "catalog" and got.digest == published.digest
    assert got.downloaded_blobs == 6 and got.cached_blobs == 0
    for name in FILES:
        assert (tmp_path / "a" / "kernel" / name).read_bytes() == (
            published.kernel / name
        ).read_bytes(), name
    assert got.info.version == json.loads((published.kernel / "kernel.json").read_text())["version"]
    modules = sorted(
        str(p.relative_to(tmp_path / "a" / "kernel"))
        for p in (tmp_path / "a" / "kernel").rglob("*.ko*")
    )
    assert modules == sorted(
        str(p.relative_to(published.kernel)) for p in published.kernel.rglob("*.ko*")
    )
    assert not (tmp_path / "a" / "work").exists()

    again = pull(registry, published.ref, tmp_path / "b", cache)
    assert again.downloaded_blobs == 0 and again.downloaded_bytes == 0 and again.cached_blobs == 6

    # Publishing the same kernel again sends nothing and yields the same digest.
    republished = publish_kernel(
        published.kernel,
        published.ref,
        cache_dir=tmp_path / "pcache",
        reporter=NullReporter(),
        insecure_registries=[registry.address],
    )
    assert republished.digest == published.digest and republished.uploaded == 0


def test_pull_by_digest_and_a_missing_digest(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    pinned = f"{registry.address}/kernels/debian@{published.digest}"
    got = pull(registry, pinned, tmp_path / "a", tmp_path / "cache")
    assert got.digest == published.digest and got.ref == pinned
    with pytest.raises(NotFound):
        pull(
            registry,
            f"{registry.address}/kernels/debian@sha256:{'0' * 64}",
            tmp_path / "b",
            tmp_path / "cache",
        )
    assert not (tmp_path / "b" / "kernel").exists()


def _push_artifact(
    registry: RunningRegistry, repository: str, tag: str, kernel: bytes, arch: str
) -> str:
    """A minimal artifact: config + one vmlinux layer (kernel bytes are the test's own)."""
    config = KernelArtifactConfig(
        release="6.1.0-99-test",
        arch=arch,  # type: ignore[arg-type]
        boot_format="elf-vmlinux" if arch == "x86_64" else "arm64-Image",
        vmms=["qemu"],
        features={},
        needs_modules=False,
        needs_initrd=False,
        banger_version="test",
    ).to_json()
    config_desc = Descriptor(CONFIG_TYPE, registry.push_blob(repository, config), len(config))
    layer = Layer(
        VMLINUX, Descriptor(LAYERS[VMLINUX][0], registry.push_blob(repository, kernel), len(kernel))
    )
    body = build_manifest(config_desc, [layer])
    return registry.push_manifest(repository, tag, body, OCI_MANIFEST)


def test_a_tampered_blob_fails_clearly_and_nothing_is_imported(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    kernel = b"\x7fELF" + os.urandom(4096)  # unique: no other test shares this blob
    _push_artifact(registry, "kernels/tampered", "1", kernel, "x86_64")
    data = registry.blob_data_path(sha256(kernel))
    raw = data.read_bytes()
    data.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))  # same size, one byte changed
    cache = tmp_path / "cache"
    with pytest.raises(DigestMismatch, match=f"blob {sha256(kernel)} .* has digest") as err:
        pull(registry, f"{registry.address}/kernels/tampered:1", tmp_path, cache)
    assert "tampered" in (err.value.hint or "")
    assert not (tmp_path / "kernel").exists() and not (tmp_path / "work").exists()
    assert not (cache / "blobs" / "sha256" / sha256(kernel).split(":")[1]).exists()
    assert list((cache / "tmp").iterdir()) == []


def test_a_multi_arch_index_selects_the_hosts_manifest(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    arm = b"\x00" * 0x38 + b"ARMd" + os.urandom(256)
    arm_digest = _push_artifact(registry, "kernels/debian", "arm64-only", arm, "aarch64")
    entries = []
    for digest, arch in ((arm_digest, "arm64"), (published.digest, "amd64")):
        raw = subprocess.run(  # the size of each manifest, as the registry has it
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{registry.address}/kernels/debian@{digest}",
            ],
            check=True,
            capture_output=True,
        ).stdout
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": digest,
                "size": len(raw),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": ARTIFACT_TYPE,
            "manifests": entries,
        }
    ).encode()
    registry.push_manifest("kernels/debian", "multi", index, OCI_INDEX)
    ref = f"{registry.address}/kernels/debian:multi"
    hosts = [registry.address]
    assert (
        resolve_kernel_ref(ref, platform="linux/arm64", insecure_registries=hosts)[1] == arm_digest
    )
    got = pull(registry, ref, tmp_path, tmp_path / "cache", platform="linux/amd64")
    assert got.digest == published.digest
    assert (tmp_path / "kernel" / "vmlinux").read_bytes() == (
        published.kernel / "vmlinux"
    ).read_bytes()


def test_skopeo_copies_the_artifact_and_sees_its_type(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{published.ref}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    manifest = json.loads(raw)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    layout = tmp_path / "layout"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{published.ref}",
            f"oci:{layout}:k",
        ],
        check=True,
        capture_output=True,
    )
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == published.digest
    vmlinux = (published.kernel / "vmlinux").read_bytes()
    copied = layout / "blobs" / "sha256" / hashlib.sha256(vmlinux).hexdigest()
    assert copied.read_bytes() == vmlinux


def test_oras_pulls_the_files_by_their_titles(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    import oras.client

    client = oras.client.OrasClient(insecure=True)
    client.pull(target=published.ref, outdir=str(tmp_path))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"vmlinux", "bzImage", "initrd.img", "config", "modules.tar.gz"} <= names
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (published.kernel / name).read_bytes(), name


def test_an_ignite_style_kernel_image_pulls(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    layer = ignite_layer(published.kernel)
    registry.push_image("ignite/kernel", "6.1", [(layer, LAYER_TAR, layer)])
    got = pull(registry, f"{registry.address}/ignite/kernel:6.1", tmp_path, tmp_path / "cache")
    dest = tmp_path / "kernel"
    assert got.kind == "container" and got.info.initrd_generated
    assert (dest / "vmlinux").read_bytes() == (published.kernel / "vmlinux").read_bytes()
    assert (dest / "config").read_bytes() == (published.kernel / "config").read_bytes()
    assert (dest / "initrd.img").stat().st_size > 0
    for path in dest.rglob("*"):
        mode = path.lstat().st_mode
        assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), path
        assert not mode & (stat.S_ISUID | stat.S_ISGID), path


def test_publish_mounts_blobs_another_repository_holds(
    registry: RunningRegistry, published: Published, tmp_path: Path
) -> None:
    out = publish_kernel(
        published.kernel,
        f"{registry.address}/mirror/debian:6.1",
        cache_dir=tmp_path / "cache",
        reporter=NullReporter(),
        mount_from="kernels/debian",
        insecure_registries=[registry.address],
    )
    assert (out.uploaded, out.mounted, out.digest) == (0, 6, published.digest)


def test_publish_and_pull_authenticate_like_image_pull(tmp_path: Path) -> None:
    token = TokenServer()
    kernel = debian_kernel()
    with start_registry(tmp_path / "reg", token=token) as secured:
        ref = f"{secured.address}/private/debian:1"
        realm = f"127.0.0.1:{token._server.server_address[1]}"  # type: ignore[union-attr]
        hosts = [secured.address, realm]
        common = {"cache_dir": tmp_path / "cache", "insecure_registries": hosts}
        with pytest.raises(PermissionDenied):
            publish_kernel(kernel, ref, reporter=NullReporter(), **common)  # type: ignore[arg-type]
        auth = base64.b64encode(f"{token.username}:{token.password}".encode()).decode()
        config = DockerConfig(
            data=json.dumps({"auths": {secured.address: {"auth": auth}}}).encode(),
            source="test config",
            helper_prefix=(),
            helper_env={},
        )
        out = publish_kernel(kernel, ref, reporter=NullReporter(), docker_config=config, **common)  # type: ignore[arg-type]
        got = pull_kernel(
            ref,
            tmp_path / "kernel",
            name="k",
            work_dir=tmp_path / "work",
            reporter=NullReporter(),
            docker_config=config,
            **common,  # type: ignore[arg-type]
        )
        assert got.digest == out.digest and "basic" in token.requests
