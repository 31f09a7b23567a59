"""A small OCI distribution client over httpx: manifests, verified blob downloads, auth.

Plain HTTP is used only for registries the caller listed as insecure; there is no silent
downgrade. Transient failures (connect errors, 429, 5xx) are retried with bounded backoff,
and a blob download that breaks midway resumes with a Range request when the server
honours it (206), otherwise restarts from zero. Every byte is hashed as it arrives.

Bodies are read raw and bounded: banger asks for identity encoding and refuses any other,
because httpx would otherwise inflate a gzip/zstd "Content-Encoding" in memory, a single
network read at a time but without limit (a 64 KiB zstd frame can inflate to GiBs).
Manifests and token answers are capped whatever Content-Length claims; blobs stop at
their declared size.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from banger.errors import BangerError, InvalidArgument, NotFound, PermissionDenied, Unavailable
from banger.oci.auth import (
    Challenge,
    Credentials,
    DockerConfig,
    basic_header,
    load_credentials,
    parse_challenge,
)
from banger.oci.reference import Reference
from banger.oci.token import check_token_status, parse_token, token_request

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024  # real token answers are a few KiB
_MAX_REDIRECTS = 5
_CHUNK = 1024 * 1024


class DigestMismatch(BangerError):
    code = "digest_mismatch"
    status = 502


class RegistryClient:
    def __init__(
        self,
        registry: str,
        *,
        insecure_registries: Sequence[str] = (),
        credentials: Credentials | None = None,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self._insecure = {r.lower() for r in insecure_registries}
        scheme = "http" if registry.lower() in self._insecure else "https"
        self.base_url = f"{scheme}://{registry}"
        self._credentials = credentials
        self._attempts = attempts
        self._backoff = backoff
        self._auth_header: dict[str, str] = {}  # scope -> Authorization value
        self._http = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"Accept-Encoding": "identity"}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public operations -------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """Fetch a manifest or index; returns (body, media type, sha256 digest of body)."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        response = self.send("GET", url, repository, headers)
        what = f"manifest {repository}:{reference}"
        try:
            self._raise_for_status(response, what)
            body = self._read_bounded(response, MAX_MANIFEST_BYTES, what)
        finally:
            response.close()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch(
                f"manifest {repository}@{reference} has digest {digest}",
                hint="the registry served different content than requested; do not trust it",
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return body, media_type, digest

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        sink: BinaryIO,
        *,
        expected_size: int | None,
        on_bytes: Callable[[int], None] = lambda n: None,
    ) -> int:
        """Stream a blob into sink, verifying sha256; returns bytes fetched (resumes included)."""
        url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        hasher = hashlib.sha256()
        received = 0
        fetched = 0
        failures = 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                response = self.send("GET", url, repository, headers)
                try:
                    if received and response.status_code == 200:
                        # The server ignored Range: start over from the first byte.
                        sink.seek(0)
                        sink.truncate()
                        hasher, received = hashlib.sha256(), 0
                    elif response.status_code not in (200, 206):
                        self._raise_for_status(response, f"blob {digest}")
                    _check_identity(response, f"blob {digest}")
                    for chunk in response.iter_raw(_CHUNK):
                        received += len(chunk)
                        fetched += len(chunk)
                        if expected_size is not None and received > expected_size:
                            raise DigestMismatch(
                                f"blob {digest} exceeds its declared {expected_size} bytes",
                                hint="the registry or a proxy is serving wrong content",
                            )
                        hasher.update(chunk)
                        sink.write(chunk)
                        on_bytes(len(chunk))
                finally:
                    response.close()
            except httpx.TransportError as exc:  # the stream broke midway: resume
                failures += 1
                if failures >= self._attempts:
                    raise Unavailable(
                        f"download of {digest} from {self.registry} kept failing: {_describe(exc)}",
                        hint="check the network and the registry, then retry the pull",
                    ) from None
                time.sleep(self._backoff * 2 ** (failures - 1))
                continue
            break
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest or (expected_size is not None and received != expected_size):
            raise DigestMismatch(
                f"blob {digest} from {self.registry} has digest {actual} ({received} bytes)",
                hint="the registry served corrupted or tampered content; nothing was kept",
            )
        sink.flush()
        return fetched

    # --- transport ---------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        repository: str,
        headers: Mapping[str, str],
        *,
        push: bool = False,
        content: Callable[[], bytes | Iterator[bytes]] | None = None,
    ) -> httpx.Response:
        """One request with auth, bounded retries on transient errors and checked redirects;
        the caller closes the response. push: ask for the repository's push scope.
        content: makes the body afresh for each attempt (a retry resends it whole)."""
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        authorized_retry = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = dict(headers)
            if scope in self._auth_header:
                request_headers["Authorization"] = self._auth_header[scope]
            try:
                response = self._follow(
                    method, url, request_headers, None if content is None else content()
                )
            except httpx.TransportError as exc:
                if attempt >= self._attempts:
                    raise Unavailable(
                        f"{self.registry} did not answer: {_describe(exc)}",
                        hint="check the registry address and the network, then retry",
                    ) from None
                time.sleep(self._backoff * 2 ** (attempt - 1))
                continue
            if response.status_code == 401 and not authorized_retry:
                challenge = parse_challenge(response.headers.get("www-authenticate", ""))
                response.close()
                self._authenticate(challenge, scope)
                authorized_retry = True
                continue
            if response.status_code == 429 or response.status_code >= 500:
                response.close()
                if attempt >= self._attempts:
                    raise Unavailable(
                        f"{self.registry} kept answering HTTP {response.status_code}",
                        hint="the registry is overloaded or failing; retry later",
                    )
                time.sleep(_retry_after(response, self._backoff * 2 ** (attempt - 1)))
                continue
            return response

    def _follow(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | Iterator[bytes] | None = None,
    ) -> httpx.Response:
        origin = urlsplit(url)
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._http.send(
                self._http.build_request(method, url, headers=headers, content=body), stream=True
            )
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("location", "")
            response.close()
            target = urlsplit(urljoin(url, location))
            if target.scheme == "http" and target.netloc.lower() not in self._insecure:
                raise PermissionDenied(
                    f"{self.registry} redirected to plain-HTTP {target.netloc}",
                    hint="refusing to downgrade; list that host as insecure only if you trust it",
                )
            if target.scheme not in ("http", "https"):
                raise PermissionDenied(
                    f"{self.registry} redirected to a {target.scheme!r} URL", hint="report it"
                )
            if target.netloc != origin.netloc:
                # Blob storage on another host (S3, CDN) must not see our registry token.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = target.geturl()
        raise Unavailable(
            f"{self.registry} redirected more than {_MAX_REDIRECTS} times", hint="report it"
        )

    def _authenticate(self, challenge: Challenge | None, scope: str) -> None:
        creds = self._credentials
        if challenge is None:
            raise PermissionDenied(
                f"{self.registry} refused access without saying how to authenticate",
                hint="check the registry address and your credentials",
            )
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                raise PermissionDenied(
                    f"{self.registry} requires a login", hint=f"run: docker login {self.registry}"
                )
            self._auth_header[scope] = basic_header(creds)
            return
        self._auth_header[scope] = "Bearer " + self._fetch_token(challenge, scope)

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        asked = token_request(
            self._http, self.registry, challenge, scope, self._credentials, self._insecure
        )
        try:
            response = self._http.send(asked.request, stream=True)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"token server {asked.server} did not answer: {_describe(exc)}",
                hint="check the network and retry",
            ) from None
        try:
            check_token_status(response.status_code, asked, self.registry)
            raw = self._read_bounded(response, MAX_TOKEN_BYTES, f"token from {asked.server}")
        finally:
            response.close()
        return parse_token(raw, asked.server)

    def _read_bounded(self, response: httpx.Response, limit: int, what: str) -> bytes:
        """The raw body, refusing more than limit bytes whatever Content-Length says."""
        _check_identity(response, what)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InvalidArgument(
                f"{what} from {self.registry} is {declared} bytes, more than {limit}",
                hint="the registry serves something that is not a sane document",
            )
        body = bytearray()
        try:
            for chunk in response.iter_raw(64 * 1024):
                body += chunk
                if len(body) > limit:
                    raise InvalidArgument(
                        f"{what} from {self.registry} exceeds {limit} bytes",
                        hint="the registry serves something that is not a sane document",
                    )
        except httpx.TransportError as exc:
            raise Unavailable(
                f"{self.registry} broke off the {what}: {_describe(exc)}", hint="retry the pull"
            ) from None
        return bytes(body)

    def check_url(self, url: str) -> str:
        """A URL the registry handed back (an upload Location), absolute and not downgraded."""
        target = urlsplit(urljoin(self.base_url + "/", url))
        if target.scheme == "http" and target.netloc.lower() not in self._insecure:
            raise PermissionDenied(
                f"{self.registry} sent a plain-HTTP upload location on {target.netloc}",
                hint="refusing to downgrade; list that host as insecure only if you trust it",
            )
        if target.scheme not in ("http", "https"):
            raise PermissionDenied(
                f"{self.registry} sent a {target.scheme!r} upload location", hint="report it"
            )
        return target.geturl()

    def raise_for_status(self, response: httpx.Response, what: str) -> None:
        """The one mapping of an unexpected answer to a BangerError (2xx passes)."""
        if 200 <= response.status_code < 300:
            return
        self._raise_for_status(response, what)

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (200, 206):
            return
        if response.status_code == 404:
            raise NotFound(
                f"{what} not found on {self.registry}", hint="check the image name and tag"
            )
        if response.status_code in (401, 403):
            raise PermissionDenied(
                f"{self.registry} denied access to {what}",
                hint=f"check the repository name and your login (docker login {self.registry})",
            )
        raise Unavailable(
            f"{self.registry} answered HTTP {response.status_code} for {what}", hint="retry later"
        )


def _check_identity(response: httpx.Response, what: str) -> None:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise InvalidArgument(
            f"{what} came with Content-Encoding {encoding[:40]!r} although banger asked for none",
            hint="the registry or a proxy in between re-encodes content; pull from elsewhere",
        )


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), 30.0)
    except ValueError:
        return default


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def connect(
    reference: Reference, insecure_registries: Sequence[str], docker_config: DockerConfig | None
) -> RegistryClient:
    """A client for the reference's registry, with the caller's credentials for it."""
    credentials = load_credentials(reference.registry, docker_config)
    return RegistryClient(
        reference.registry, insecure_registries=insecure_registries, credentials=credentials
    )
