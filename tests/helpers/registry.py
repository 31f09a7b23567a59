"""Real `docker-registry` (CNCF distribution) on loopback for tests, plus a tiny pusher.

`start_registry(tmp)` runs an open registry; `start_registry(tmp, token=TokenServer(...))`
runs one that demands bearer tokens from a token server written here (ES256 JWTs signed
with a certificate generated per run, Basic-auth checked against one user). Both are
context managers that always stop what they started.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """Issues registry tokens; requires Basic user:password unless anonymous_pull."""

    username: str = "tester"
    password: str = field(default_factory=lambda: secrets.token_hex(8))
    anonymous_pull: bool = False
    service: str = "banger-test-registry"
    issuer: str = "banger-test-issuer"
    requests: list[str] = field(default_factory=list)
    _key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    _server: ThreadingHTTPServer | None = None

    def certificate_pem(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "banger-test-token")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        return cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, scope: str, authorized: bool) -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":", 2)
            allowed = (
                actions.split(",") if authorized else [a for a in actions.split(",") if a == "pull"]
            )
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": self.issuer,
            "sub": self.username if authorized else "",
            "aud": self.service,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def start(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                scope = query.get("scope", [""])[0]
                expected = (
                    "Basic "
                    + base64.b64encode(f"{owner.username}:{owner.password}".encode()).decode()
                )
                given = self.headers.get("Authorization")
                owner.requests.append("basic" if given else "anonymous")
                if given is not None and given != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                if given is None and not owner.anonymous_pull:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": owner.issue(scope, given is not None)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class RunningRegistry:
    address: str  # 127.0.0.1:PORT
    root: Path
    token: TokenServer | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    def blob_data_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def _request(self, method: str, url: str, scope: str, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[arg-type]
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        response = httpx.request(method, url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        if response.status_code == 401 and self.token is not None:
            self._tokens[scope] = self.token.issue(scope, True)
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            response = httpx.request(method, url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        return response

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        scope = f"repository:{repository}:pull,push"
        base = f"http://{self.address}"
        started = self._request("POST", f"{base}/v2/{repository}/blobs/uploads/", scope)
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        url = location if location.startswith("http") else base + location
        sep = "&" if "?" in url else "?"
        done = self._request(
            "PUT",
            f"{url}{sep}digest={digest}",
            scope,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        scope = f"repository:{repository}:pull,push"
        url = f"http://{self.address}/v2/{repository}/manifests/{reference}"
        response = self._request(
            "PUT", url, scope, content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, response.text
        return sha256(body)

    def push_image(
        self,
        repository: str,
        tag: str | None,
        layers: list[tuple[bytes, str, bytes]],
        *,
        config: dict[str, object] | None = None,
        architecture: str = "amd64",
    ) -> tuple[str, bytes]:
        """Push (blob, media type, uncompressed tar) layers; returns (manifest digest, body)."""
        layer_descs = []
        for blob, media_type, _uncompressed in layers:
            layer_descs.append(
                {
                    "mediaType": media_type,
                    "digest": self.push_blob(repository, blob),
                    "size": len(blob),
                }
            )
        config_doc = {
            "architecture": architecture,
            "os": "linux",
            "config": config or {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(u) for _, _, u in layers]},
        }
        config_blob = json.dumps(config_doc).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.push_blob(repository, config_blob),
                "size": len(config_blob),
            },
            "layers": layer_descs,
        }
        body = json.dumps(manifest).encode()
        return self.push_manifest(repository, tag or sha256(body), body, OCI_MANIFEST), body

    def push_index(self, repository: str, tag: str, entries: list[tuple[str, bytes]]) -> str:
        """entries: (os/arch[/variant], manifest body already pushed)."""
        manifests = []
        for plat, body in entries:
            parts = plat.split("/")
            platform = {"os": parts[0], "architecture": parts[1]}
            if len(parts) > 2:
                platform["variant"] = parts[2]
            manifests.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(body),
                    "size": len(body),
                    "platform": platform,
                }
            )
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        ).encode()
        return self.push_manifest(repository, tag, body, OCI_INDEX)


@contextlib.contextmanager
def start_registry(tmp: Path, token: TokenServer | None = None) -> Iterator[RunningRegistry]:
    """Run docker-registry on a free loopback port with storage under tmp; always stopped."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = tmp / "storage"
    lines = [
        "version: 0.1",
        "log: {level: error}",
        "storage:",
        f"  filesystem: {{rootdirectory: {storage}}}",
        "  delete: {enabled: true}",
        f"http: {{addr: '127.0.0.1:{port}'}}",
    ]
    with contextlib.ExitStack() as stack:
        if token is not None:
            cert = tmp / "token-cert.pem"
            cert.write_bytes(token.certificate_pem())
            token_address = token.start()
            stack.callback(token.stop)
            lines += [
                "auth:",
                "  token:",
                f"    realm: http://{token_address}/token",
                f"    service: {token.service}",
                f"    issuer: {token.issuer}",
                f"    rootcertbundle: {cert}",
            ]
        config = tmp / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        log = open(tmp / "registry.log", "wb")  # noqa: SIM115 - closed by the stack
        stack.callback(log.close)
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(_stop, process)
        _wait_ready(f"http://127.0.0.1:{port}/v2/", process, tmp / "registry.log")
        yield RunningRegistry(address=f"127.0.0.1:{port}", root=storage, token=token)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {url}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
