"""A hostile registry on loopback: bodies and declared sizes stay bounded before download."""

from __future__ import annotations

import hashlib
import json
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard

from banger.errors import BangerError, InvalidArgument
from banger.oci import RejectedLayer, pull_image
from banger.oci.blob_limits import (
    MAX_CONFIG_BYTES,
    check_layers,
    check_manifest_size,
    max_layer_bytes,
    read_config,
)
from banger.oci.manifest import Descriptor
from banger.oci.models import ReplayLimits
from banger.oci.registry import RegistryClient
from banger.ops.reporter import NullReporter

MiB = 1 << 20


class Reply:
    def __init__(self, body: bytes = b"", headers: dict[str, str] | None = None, *, chunked=False):
        self.body, self.headers, self.chunked = body, headers or {}, chunked


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return None  # the client hanging up mid-body is the point of these tests


class FakeRegistry:
    """Serves canned replies by path; records every path asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                reply = owner.routes.get(self.path.split("?")[0], Reply(b"{}", {"X-Status": "404"}))
                self.send_response(int(reply.headers.get("X-Status", "200")))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    if reply.chunked:
                        for start in range(0, len(reply.body), 65536):
                            piece = reply.body[start : start + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should

            def log_message(self, *args: object) -> None:
                return None

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> RegistryClient:
        return RegistryClient(self.address, insecure_registries=[self.address], attempts=1)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    yield registry
    registry.server.shutdown()
    registry.server.server_close()


def _zstd_bomb(size: int) -> bytes:
    return zstandard.ZstdCompressor(level=19).compress(b"{" + b" " * (size - 1))


def test_content_encoded_manifest_is_refused_without_inflating_it(fake):
    bomb = _zstd_bomb(256 * MiB)
    assert len(bomb) < 64 * 1024
    fake.routes["/v2/r/manifests/t"] = Reply(bomb, {"Content-Encoding": "zstd"})
    tracemalloc.start()
    try:
        with fake.client() as client, pytest.raises(InvalidArgument, match="Content-Encoding"):
            client.get_manifest("r", "t")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB


def test_content_encoded_blob_is_refused(fake, tmp_path):
    fake.routes["/v2/r/blobs/sha256:" + "a" * 64] = Reply(b"x" * 100, {"Content-Encoding": "gzip"})
    with (
        fake.client() as client,
        open(tmp_path / "blob", "wb") as sink,
        pytest.raises(InvalidArgument, match="Content-Encoding 'gzip'"),
    ):
        client.fetch_blob("r", "sha256:" + "a" * 64, sink, expected_size=100)


def test_manifest_bodies_are_capped_whatever_content_length_says(fake):
    fake.routes["/v2/r/manifests/chunked"] = Reply(b" " * (5 * MiB), chunked=True)
    fake.routes["/v2/r/manifests/declared"] = Reply(b"{}", {"Content-Length": str(10 << 30)})
    with fake.client() as client:
        with pytest.raises(InvalidArgument, match="exceeds 4194304 bytes"):
            client.get_manifest("r", "chunked")
        with pytest.raises(InvalidArgument, match="is 10737418240 bytes, more than 4194304"):
            client.get_manifest("r", "declared")


def test_token_answers_are_capped(fake):
    realm = f"http://{fake.address}/token"
    challenge = f'Bearer realm="{realm}",service="s",scope="repository:r:pull"'
    fake.routes["/v2/r/manifests/t"] = Reply(
        b"", {"X-Status": "401", "WWW-Authenticate": challenge}
    )
    fake.routes["/token"] = Reply(b'{"token": "' + b"t" * (2 * MiB) + b'"}', chunked=True)
    with fake.client() as client, pytest.raises(InvalidArgument, match=r"token from .* exceeds"):
        client.get_manifest("r", "t")


def _desc(size: int, digest: str = "sha256:" + "b" * 64) -> Descriptor:
    return Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", digest, size)


def test_declared_sizes_are_checked_before_any_download(tmp_path):
    limits = ReplayLimits(max_total_bytes=100 * MiB, max_entries=1000, max_layers=3)
    cap = max_layer_bytes(limits)
    check_layers(_desc(1000), [_desc(cap // 2), _desc(cap // 2)], limits)
    with pytest.raises(RejectedLayer, match=r"image config .* declares"):
        check_layers(_desc(MAX_CONFIG_BYTES + 1), [], limits)
    with pytest.raises(RejectedLayer, match="4 layers, more than 3"):
        check_layers(_desc(1), [_desc(1)] * 4, limits)
    with pytest.raises(RejectedLayer, match="declared layer sizes"):
        check_layers(_desc(1), [_desc(cap // 2), _desc(cap // 2 + 2)], limits)
    with pytest.raises(RejectedLayer, match=r"manifest .* declares"):
        check_manifest_size(_desc(5 * MiB))
    big = tmp_path / "config"
    big.write_bytes(b" " * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(RejectedLayer, match="larger than"):
        read_config(big, "sha256:" + "c" * 64)


def test_pull_of_a_manifest_declaring_a_huge_layer_downloads_nothing(fake, tmp_path):
    config = json.dumps({"rootfs": {"diff_ids": ["sha256:" + "d" * 64]}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "x", "digest": config_digest, "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + "e" * 64,
                "size": 1 << 50,
            }
        ],
    }
    fake.routes["/v2/r/manifests/t"] = Reply(json.dumps(manifest).encode())
    fake.routes[f"/v2/r/blobs/{config_digest}"] = Reply(config)
    with pytest.raises(RejectedLayer, match="declared layer sizes") as info:
        pull_image(
            f"{fake.address}/r:t",
            out_ext4=tmp_path / "root.ext4",
            cache_dir=tmp_path / "cache",
            work_dir=tmp_path / "work",
            reporter=NullReporter(),
            insecure_registries=[fake.address],
            ram_dir=None,
        )
    assert isinstance(info.value, BangerError) and info.value.hint
    assert not [p for p in fake.requests if "/blobs/" in p]
    assert not Path(tmp_path / "root.ext4").exists()


def test_nested_json_is_a_clean_error(fake):
    fake.routes["/v2/r/manifests/t"] = Reply(b"[" * 200_000 + b"]" * 200_000)
    with fake.client() as client:
        body, header_type, _ = client.get_manifest("r", "t")
    from banger.oci.manifest import media_type_of

    with pytest.raises(InvalidArgument, match="not valid JSON"):
        media_type_of(body, header_type)
