"""What a member sees of someone else's shared image."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from banger.api.models import Image, ImageFiles, ImageSource
from banger.daemon.images import seen_by
from banger.daemon.owners import ROOT, Actor

OWNER = Actor(uid=1001, admin=False)
OTHER = Actor(uid=1002, admin=False)


def image(kind: str, ref: str) -> Image:
    return Image(
        id="0123456789abcdef",
        name="img",
        owner_uid=OWNER.uid,
        shared=True,
        managed=True,
        files=ImageFiles(rootfs=Path("/var/lib/banger/images/0123456789abcdef/rootfs.ext4")),
        size_bytes=1,
        source=ImageSource(kind=kind, ref=ref),  # type: ignore[arg-type]
        created_at=datetime.now(UTC),
    )


def test_another_member_sees_only_the_file_name_of_a_registered_source() -> None:
    seen = seen_by(image("register", "/home/alice/secret-project/disk.ext4"), OTHER)
    assert seen.source.ref == "disk.ext4"


def test_the_owner_and_admins_see_the_whole_path() -> None:
    registered = image("register", "/home/alice/secret-project/disk.ext4")
    assert seen_by(registered, OWNER).source.ref == "/home/alice/secret-project/disk.ext4"
    assert seen_by(registered, ROOT).source.ref == "/home/alice/secret-project/disk.ext4"


def test_a_pulled_reference_is_not_a_host_path_and_stays() -> None:
    pulled = image("pull", "docker.io/library/debian:bookworm")
    assert seen_by(pulled, OTHER).source.ref == "docker.io/library/debian:bookworm"
