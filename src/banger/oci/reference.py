"""Parse and strictly validate image references ("debian:bookworm", "host:5000/a/b@sha256:...").

A reference only ever becomes URL path segments, never a host path: the blob cache is
addressed by verified digest alone. The grammar follows the distribution reference spec
(lowercase path components, tag charset, sha256 digests) and rejects everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from banger.errors import InvalidArgument

DOCKER_HUB_REGISTRY = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# host[:port]: DNS labels or an IPv4 address; IPv6 literals are not supported.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?$"
)
_MAX_REFERENCE_LENGTH = 512

_HINT = (
    "use a reference like debian:bookworm, ghcr.io/owner/name:tag or host:5000/name@sha256:<hex>"
)


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port] actually contacted, e.g. registry-1.docker.io
    repository: str  # e.g. library/debian
    tag: str | None
    digest: str | None

    @property
    def display_registry(self) -> str:
        return "docker.io" if self.registry == DOCKER_HUB_REGISTRY else self.registry

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.display_registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_digest(value: str) -> bool:
    return bool(_DIGEST.match(value))


def parse_reference(ref: str) -> Reference:
    """Split and validate a reference; Docker Hub and its library/ namespace are defaults."""
    if not ref or len(ref) > _MAX_REFERENCE_LENGTH or ref != ref.strip():
        raise InvalidArgument(f"invalid image reference {ref[:80]!r}", hint=_HINT)
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidArgument(
                f"invalid digest in image reference {ref[:80]!r}",
                hint="only sha256:<64 lowercase hex> digests are supported",
            )
    tag = None
    last_slash = name.rfind("/")
    if ":" in name[last_slash + 1 :]:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid tag {tag[:80]!r} in image reference", hint=_HINT)
    if tag is None and digest is None:
        tag = "latest"

    parts = name.split("/")
    first = parts[0]
    # The first component is a registry host only if it looks like one (as docker decides).
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, parts[1:]
        if not _HOST.match(registry):
            raise InvalidArgument(f"invalid registry host {registry[:80]!r}", hint=_HINT)
    else:
        registry, path = DOCKER_HUB_REGISTRY, parts
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB_REGISTRY
        if len(path) == 1:
            path = ["library", *path]
    for component in path:
        if not _PATH_COMPONENT.match(component):
            raise InvalidArgument(
                f"invalid repository name component {component[:80]!r} in {ref[:80]!r}",
                hint="repository names are lowercase letters, digits and . _ - separators",
            )
    return Reference(registry=registry, repository="/".join(path), tag=tag, digest=digest)
