"""Resolve a kernel reference to one manifest, and fetch its blobs through the blob cache.

The manifest is chosen as `image pull` chooses (an index: the wanted platform), and
every blob lands in the same content-addressed cache as image layers, digest-verified
while streaming, so a second pull of the same kernel downloads nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from banger.errors import InvalidArgument
from banger.oci.cache import BlobCache
from banger.oci.manifest import (
    Descriptor,
    Platform,
)
from banger.oci.reference import Reference
from banger.oci.registry import RegistryClient
from banger.oci.resolve import resolve_manifest
from banger.ops.reporter import Reporter


@dataclass(frozen=True)
class Resolved:
    digest: str  # of the manifest chosen (not of the index)
    data: dict[str, object]  # the manifest, decoded


def resolve(
    client: RegistryClient, reference: Reference, wanted: Platform, reporter: Reporter
) -> Resolved:
    digest, body = resolve_manifest(
        client,
        reference,
        wanted,
        reporter,
        unsupported_hint="pull a banger kernel artifact or a kernel container image",
    )
    data = json.loads(body)  # media_type_of decoded it already: it is a JSON object
    return Resolved(digest=digest, data=data)


@dataclass
class Fetcher:
    """Blobs of one repository into the cache; counts what it really downloaded."""

    client: RegistryClient
    cache: BlobCache
    repository: str
    reporter: Reporter
    downloaded_blobs: int = 0
    downloaded_bytes: int = 0
    cached_blobs: int = 0
    fetched: list[str] = field(default_factory=list)

    def get(self, desc: Descriptor) -> Path:
        cached = self.cache.lookup(desc.digest)
        if cached is not None:
            self.cached_blobs += 1
            return cached
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            self.reporter.progress(done, desc.size, unit="B", task=desc.digest[:19])

        with self.cache.staging() as (tmp_path, handle):
            self.downloaded_bytes += self.client.fetch_blob(
                self.repository, desc.digest, handle, expected_size=desc.size, on_bytes=progress
            )
            self.downloaded_blobs += 1
            self.fetched.append(desc.digest)
            return self.cache.commit(tmp_path, desc.digest)


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(f"{what} is larger than {limit} bytes", hint="the artifact is broken")
    return data
