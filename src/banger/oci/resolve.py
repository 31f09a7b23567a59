"""A reference to one image manifest: through an index to the wanted platform's entry.

`image pull` and the kernel catalog choose alike; only what they accept next differs.
"""

from __future__ import annotations

from banger.errors import InvalidArgument
from banger.oci.blob_limits import check_manifest_size
from banger.oci.manifest import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Platform,
    media_type_of,
    select_platform,
)
from banger.oci.reference import Reference
from banger.oci.registry import RegistryClient
from banger.ops.reporter import Reporter


def resolve_manifest(
    client: RegistryClient,
    reference: Reference,
    wanted: Platform,
    reporter: Reporter,
    *,
    unsupported_hint: str,
) -> tuple[str, bytes]:
    """(digest, body) of the manifest `reference` names for `wanted`, never of an index."""
    body, header_type, digest = client.get_manifest(reference.repository, reference.reference)
    media_type = media_type_of(body, header_type)
    if media_type in INDEX_TYPES:
        chosen = select_platform(body, wanted)
        check_manifest_size(chosen)
        reporter.log(f"selected {chosen.digest} for {wanted}")
        body, header_type, digest = client.get_manifest(reference.repository, chosen.digest)
        media_type = media_type_of(body, header_type)
    if media_type not in MANIFEST_TYPES:
        raise InvalidArgument(
            f"{reference} has unsupported manifest type {media_type!r}", hint=unsupported_hint
        )
    return digest, body
