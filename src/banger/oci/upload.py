"""Push with the same RegistryClient that pulls: blob uploads, cross-repository mounts, manifests.

The distribution API's monolithic upload (POST a session, PUT the whole blob with its
digest) is used: one request per blob, which every registry implements, and a retry
resends from the start of the file. A blob the repository already has is not sent
again (HEAD); one another repository of the same registry holds is mounted, which
costs no transfer. The registry checks each digest itself and answers 400 otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from banger.errors import InvalidArgument
from banger.oci.registry import DigestMismatch, RegistryClient

_CHUNK = 1024 * 1024


def blob_exists(client: RegistryClient, repository: str, digest: str) -> bool:
    url = f"{client.base_url}/v2/{repository}/blobs/{digest}"
    response = client.send("HEAD", url, repository, {}, push=True)
    response.close()
    if response.status_code == 404:
        return False
    client.raise_for_status(response, f"blob {digest}")
    return True


def _start_upload(
    client: RegistryClient, repository: str, digest: str, mount_from: str | None
) -> str | None:
    """An upload session's location, or None when the registry mounted the blob."""
    url = f"{client.base_url}/v2/{repository}/blobs/uploads/"
    if mount_from and mount_from != repository:
        url += f"?mount={digest}&from={mount_from}"
    response = client.send("POST", url, repository, {"Content-Length": "0"}, push=True)
    response.close()
    if response.status_code == 201 and mount_from:
        return None
    client.raise_for_status(response, f"upload of {digest} to {repository}")
    location = response.headers.get("location", "")
    if response.status_code != 202 or not location:
        raise InvalidArgument(
            f"{client.registry} started no upload session for {digest}",
            hint="the registry does not implement the distribution API's blob upload",
        )
    return client.check_url(location)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def upload_blob(
    client: RegistryClient,
    repository: str,
    path: Path,
    digest: str,
    *,
    mount_from: str | None = None,
) -> str:
    """Make `path` (whose sha256 is `digest`) a blob of repository; returns how it got
    there: "present" (nothing sent), "mounted" or "uploaded"."""
    if blob_exists(client, repository, digest):
        return "present"
    location = _start_upload(client, repository, digest, mount_from)
    if location is None:
        return "mounted"
    sep = "&" if "?" in location else "?"
    size = path.stat().st_size
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    response = client.send(
        "PUT",
        f"{location}{sep}digest={digest}",
        repository,
        headers,
        push=True,
        content=lambda: _file_chunks(path),
    )
    response.close()
    client.raise_for_status(response, f"upload of {digest} to {repository}")
    return "uploaded"


def put_manifest(
    client: RegistryClient, repository: str, reference: str, body: bytes, media_type: str
) -> str:
    """Store a manifest or index under a tag (or its digest); returns its digest, checked
    against the one the registry reports."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    url = f"{client.base_url}/v2/{repository}/manifests/{reference}"
    response = client.send(
        "PUT", url, repository, {"Content-Type": media_type}, push=True, content=lambda: body
    )
    response.close()
    client.raise_for_status(response, f"manifest {repository}:{reference}")
    reported = response.headers.get("docker-content-digest", digest)
    if reported != digest:
        raise DigestMismatch(
            f"{client.registry} stored manifest {repository}:{reference} as {reported}, "
            f"expected {digest}",
            hint="the registry rewrote the manifest; use another registry",
        )
    return digest
