import base64
import json
import tarfile
from pathlib import Path

import pytest

from banger.errors import NotFound, PermissionDenied
from banger.oci import DigestMismatch, RejectedLayer, cache_list, cache_prune, pull_image
from banger.oci.auth import DockerConfig
from banger.ops.reporter import NullReporter
from tests.helpers.registry import (
    LAYER_GZIP,
    LAYER_TAR,
    LAYER_ZSTD,
    TokenServer,
    sha256,
    start_registry,
)
from tests.unit.oci.tarbuild import compress, device, directory, file, hardlink, make_tar, symlink

from .debugfs_read import stat_many

pytestmark = pytest.mark.integration

CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")
KIND = {"gzip": LAYER_GZIP, "zstd": LAYER_ZSTD, "plain": LAYER_TAR}


def layer(entries, how="gzip"):
    tar = make_tar(entries)
    return compress(tar, how), KIND[how], tar


def assert_nothing_left(tmp_path: Path):
    assert not (tmp_path / "root.ext4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".root.ext4")] == []
    assert list((tmp_path / "work").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_three_compressions_whiteouts_metadata_and_warm_repull(registry, tmp_path):
    base = layer(
        [
            directory("etc"),
            directory("tmp", mode=0o1777),
            file("etc/owned", b"o", uid=1000, gid=100, mode=0o640, mtime=1_600_000_000),
            file("usr/bin/su", b"su", mode=0o4755),
            hardlink("usr/bin/su-again", "usr/bin/su"),
            file("usr/bin/wall", b"w", mode=0o2755, gid=5),
            file(
                "usr/bin/ping",
                b"p",
                mode=0o755,
                xattrs={"security.capability": CAP_NET_RAW, "user.note": b"hello"},
            ),
            device("dev/null", tarfile.CHRTYPE, 1, 3),
            device("dev/sda", tarfile.BLKTYPE, 8, 0, mode=0o660),
            device("dev/initctl", tarfile.FIFOTYPE, 0, 0, mode=0o600),
            symlink("bin", "usr/bin"),
            symlink("etc/alternatives/x", "/usr/bin/su"),
            file("opq/lower", b"l"),
            file("gone", b"g"),
            directory("olddir"),
            file("olddir/f"),
        ],
        "gzip",
    )
    middle = layer(
        [file("opq/.wh..wh..opq"), file("opq/upper"), file(".wh.gone"), file(".wh.olddir")], "zstd"
    )
    top = layer(
        [directory("olddir", mode=0o700), file("olddir/new", b"n"), file("usr/sbin/sshd", b"#!")],
        "plain",
    )
    digest, _ = registry.push_image(
        "t/full",
        "v1",
        [base, middle, top],
        config={"Entrypoint": ["/init"], "Env": ["A=1"], "User": "1000"},
    )
    image = pull(registry, "t/full:v1", tmp_path)
    assert (
        image.manifest_digest == digest and image.has_sshd and image.config.entrypoint == ["/init"]
    )
    assert image.downloaded_layers == 3 and image.cached_layers == 0 and image.downloaded_bytes > 0

    out = tmp_path / "root.ext4"
    s = stat_many(
        out,
        [
            "/etc/owned",
            "/tmp",
            "/usr/bin/su",
            "/usr/bin/su-again",
            "/usr/bin/wall",
            "/usr/bin/ping",
            "/dev/null",
            "/dev/sda",
            "/dev/initctl",
            "/bin",
            "/olddir",
            "/olddir/new",
        ],
    )
    assert (s["/etc/owned"].uid, s["/etc/owned"].gid, s["/etc/owned"].mode) == (1000, 100, 0o100640)
    assert s["/etc/owned"].mtime == 1_600_000_000
    assert s["/tmp"].mode == 0o41777
    assert s["/usr/bin/su"].mode == 0o104755 and s["/usr/bin/su"].links == 2
    assert s["/usr/bin/wall"].mode == 0o102755 and s["/usr/bin/wall"].gid == 5
    assert "security.capability (20) = 01 00 00 02 00 20" in s["/usr/bin/ping"].xattrs
    assert 'user.note (5) = "hello"' in s["/usr/bin/ping"].xattrs
    assert s["/dev/null"].mode == 0o20666 and s["/dev/null"].device == (1, 3)
    assert s["/dev/sda"].mode == 0o60660 and s["/dev/sda"].device == (8, 0)
    assert s["/dev/initctl"].mode == 0o10600
    assert s["/bin"].mode == 0o120777 and s["/olddir"].mode == 0o40700
    listing = _ls(out, "/opq") + _ls(out, "/") + _ls(out, "/olddir")
    assert (
        "upper" in listing
        and "lower" not in listing
        and "gone" not in listing
        and " f\n" not in listing
    )

    warm = pull(registry, "t/full:v1", tmp_path)
    assert warm.downloaded_bytes == 0 and warm.downloaded_layers == 0 and warm.cached_layers == 3
    assert {e.digest for e in cache_list(tmp_path / "cache")} >= set(image.layers) | {
        image.config_digest
    }
    freed = cache_prune(tmp_path / "cache", keep=set(image.layers))
    assert freed > 0 and {e.digest for e in cache_list(tmp_path / "cache")} == set(image.layers)


def _ls(image: Path, path: str) -> str:
    import subprocess

    return (
        subprocess.run(
            ["debugfs", "-R", f"ls {path}", str(image)], capture_output=True, text=True
        ).stdout
        + "\n"
    )


def test_multi_arch_index_selects_platform(registry, tmp_path):
    _, amd = registry.push_image("t/multi", None, [layer([file("arch", b"amd64")])])
    _, arm = registry.push_image(
        "t/multi", None, [layer([file("arch", b"arm64")])], architecture="arm64"
    )
    registry.push_index("t/multi", "v1", [("linux/amd64", amd), ("linux/arm64/v8", arm)])
    image = pull(registry, "t/multi:v1", tmp_path, platform="linux/arm64")
    assert image.manifest_digest == sha256(arm) and image.platform == "linux/arm64"
    with pytest.raises(NotFound, match="available: linux/amd64, linux/arm64/v8"):
        pull(registry, "t/multi:v1", tmp_path, platform="linux/s390x")


def test_hostile_layer_rejected_and_nothing_kept(registry, tmp_path):
    registry.push_image(
        "t/evil", "v1", [layer([symlink("escape", "/etc")]), layer([file("escape/passwd", b"pwn")])]
    )
    with pytest.raises(RejectedLayer, match=r"escape/passwd.*is a symlink"):
        pull(registry, "t/evil:v1", tmp_path)
    assert_nothing_left(tmp_path)


def test_tampered_blob_aborts_with_nothing_kept(tmp_path):
    with start_registry(tmp_path / "reg") as reg:
        blob, kind, tar = layer([file("f", b"genuine content " * 100)])
        reg.push_image("t/tamper", "v1", [(blob, kind, tar)])
        data = reg.blob_data_path(sha256(blob))
        data.write_bytes(bytes([blob[0] ^ 0xFF]) + blob[1:])  # same size, different bytes
        with pytest.raises(DigestMismatch, match=sha256(blob)):
            pull(reg, "t/tamper:v1", tmp_path)
        assert_nothing_left(tmp_path)
        assert sha256(blob) not in {e.digest for e in cache_list(tmp_path / "cache")}


def test_size_override_too_small_is_clear(registry, tmp_path):
    registry.push_image("t/big", "v1", [layer([file("blob", b"z" * (3 << 20))])])
    with pytest.raises(Exception, match="below the") as info:
        pull(registry, "t/big:v1", tmp_path, size_bytes=1 << 20)
    assert info.value.hint
    assert_nothing_left(tmp_path)


def as_read(path: Path) -> DockerConfig:
    """The config as the daemon hands it to a pull: read already (as the caller)."""
    return DockerConfig(data=path.read_bytes(), source=str(path), helper_prefix=(), helper_env={})


def test_bearer_token_auth_with_docker_config(tmp_path):
    token = TokenServer()
    with start_registry(tmp_path / "reg", token=token) as reg:
        reg.push_image("private/app", "v1", [layer([file("secret", b"s")])])
        realm = reg_token_address(tmp_path / "reg")
        config = tmp_path / "docker.json"
        good = base64.b64encode(f"{token.username}:{token.password}".encode()).decode()
        config.write_text(json.dumps({"auths": {reg.address: {"auth": good}}}))
        image = pull(
            reg,
            "private/app:v1",
            tmp_path,
            docker_config=as_read(config),
            insecure_registries=[reg.address, realm],
        )
        assert image.layers and token.requests.count("basic") >= 1

        bad = base64.b64encode(f"{token.username}:wrong".encode()).decode()
        config.write_text(json.dumps({"auths": {reg.address: {"auth": bad}}}))
        with pytest.raises(PermissionDenied, match="rejected the credentials"):
            pull(
                reg,
                "private/app:v1",
                tmp_path / "second",
                docker_config=as_read(config),
                insecure_registries=[reg.address, realm],
            )
        # A plain-HTTP token realm not listed as insecure never receives credentials.
        before = len(token.requests)
        config.write_text(json.dumps({"auths": {reg.address: {"auth": good}}}))
        with pytest.raises(PermissionDenied, match="plain HTTP"):
            pull(reg, "private/app:v1", tmp_path / "third", docker_config=as_read(config))
        assert len(token.requests) == before


def reg_token_address(reg_dir: Path) -> str:
    for line in (reg_dir / "config.yml").read_text().splitlines():
        if "realm:" in line:
            return line.split("http://", 1)[1].split("/", 1)[0]
    raise AssertionError("no realm")


def pull(registry, ref, tmp_path: Path, **kw):
    kw.setdefault("free_bytes", 4 << 20)
    kw.setdefault("insecure_registries", [registry.address])
    (tmp_path).mkdir(parents=True, exist_ok=True)
    return pull_image(
        f"{registry.address}/{ref}",
        out_ext4=tmp_path / "root.ext4",
        cache_dir=tmp_path / "cache",
        work_dir=tmp_path / "work",
        reporter=NullReporter(),
        **kw,
    )
