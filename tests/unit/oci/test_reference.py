import pytest

from banger.errors import InvalidArgument
from banger.oci import parse_reference


@pytest.mark.parametrize(
    ("ref", "registry", "repository", "tag", "digest", "shown"),
    [
        (
            "debian:bookworm",
            "registry-1.docker.io",
            "library/debian",
            "bookworm",
            None,
            "docker.io/library/debian:bookworm",
        ),
        (
            "debian",
            "registry-1.docker.io",
            "library/debian",
            "latest",
            None,
            "docker.io/library/debian:latest",
        ),
        (
            "docker.io/owner/app:1.0",
            "registry-1.docker.io",
            "owner/app",
            "1.0",
            None,
            "docker.io/owner/app:1.0",
        ),
        ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", None, "127.0.0.1:5000/a/b:v1"),
        ("localhost/x", "localhost", "x", "latest", None, "localhost/x:latest"),
        (
            "ghcr.io/o/n@sha256:" + "a" * 64,
            "ghcr.io",
            "o/n",
            None,
            "sha256:" + "a" * 64,
            "ghcr.io/o/n@sha256:" + "a" * 64,
        ),
    ],
)
def test_parses_and_normalizes(ref, registry, repository, tag, digest, shown):
    parsed = parse_reference(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert str(parsed) == shown


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "../etc/passwd",
        "a/../../b",
        "UPPER/case",
        "host:5000/a/..",
        "a//b",
        "a:tag with space",
        "a@sha256:zz",
        "a@md5:" + "a" * 32,
        "/abs",
        "a/b/",
        "host:5000/%2e%2e/x",
        "a:" + "t" * 200,
        "a\nb",
        " debian",
        "evil.com:99999999/x",
        "a:tag/../x",
    ],
)
def test_rejects_hostile_or_malformed(ref):
    with pytest.raises(InvalidArgument) as info:
        parse_reference(ref)
    assert info.value.hint
