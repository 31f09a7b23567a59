"""Image rows written before the typed image model (schema 4) load after migration 5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from banger.api.models import BootstrapProvenance, BuildProvenance, PullProvenance
from banger.store import Database, ImageStore
from banger.store import migrations as migrations_module

OLD_SCHEMA = 4
CREATED = "2026-11-27T10:00:00Z"

# Documents exactly as the daemon stored them at schema 4 (untyped files and provenance).
OLD_DOCS: dict[str, dict[str, object]] = {
    "reg": {
        "managed": False,
        "kernel": None,
        "files": {
            "rootfs": "/srv/root.ext4",
            "kernel": "/srv/vmlinuz",
            "initrd": "/srv/initrd.img",
            "modules": "/srv/modules",
        },
        "source": {"kind": "register", "ref": "/srv/root.ext4"},
        "provenance": {},
    },
    "promoted": {
        "managed": True,
        "kernel": "debian",
        "files": {"rootfs": "/var/lib/banger/images/p/rootfs.ext4", "work_seed": "/w.ext4"},
        "source": {"kind": "register", "ref": "/srv/other.ext4"},
        "provenance": {},
    },
    "pulled": {
        "managed": True,
        "kernel": "debian",
        "files": {"rootfs": "/var/lib/banger/images/q/rootfs.ext4"},
        "source": {"kind": "pull", "ref": "docker.io/library/alpine:3", "digest": "sha256:m"},
        "provenance": {
            "has_sshd": False,
            "layers": ["sha256:l1", "sha256:l2"],
            "config_digest": "sha256:c",
            "downloaded_layers": 2,
            "cached_layers": 0,
        },
    },
    "boot": {
        "managed": True,
        "kernel": "debian",
        "files": {"rootfs": "/var/lib/banger/images/r/rootfs.ext4"},
        "source": {"kind": "bootstrap", "ref": "debian:bookworm"},
        "provenance": {
            "suite": "bookworm",
            "mirror": "http://deb.debian.org/debian",
            "packages": 212,
        },
    },
    "built-old": {  # before `via`: every build ran its steps on the console
        "managed": True,
        "kernel": "debian",
        "files": {"rootfs": "/var/lib/banger/images/s/rootfs.ext4"},
        "source": {"kind": "build", "ref": "pulled", "digest": "sha256:m"},
        "provenance": {
            "base": "pulled",
            "base_id": "q",
            "base_digest": "sha256:m",
            "steps": ["run: apk add openssh"],
            "env": ["GREETING"],
            "banger_version": "0.1.0",
            "built_at": "2026-11-26T12:00:00.000000+00:00",
        },
    },
}


def _schema_4_db(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database migrated only as far as schema 4, holding OLD_DOCS."""
    monkeypatch.setattr("banger.store.db.MIGRATIONS", migrations_module.MIGRATIONS[:OLD_SCHEMA])
    db = Database(path)
    assert db.schema_version == OLD_SCHEMA
    for name, doc in OLD_DOCS.items():
        full = {"id": name + "-id", "name": name, "config": {}, "created_at": CREATED, **doc}
        db.execute(
            "INSERT INTO images (id, name, doc) VALUES (?, ?, ?)",
            (full["id"], name, json.dumps(full)),
        )
    db.close()
    monkeypatch.undo()


def test_schema_4_image_rows_load_typed_after_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _schema_4_db(tmp_path / "b.db", monkeypatch)
    db = Database(tmp_path / "b.db")
    assert db.schema_version == len(migrations_module.MIGRATIONS)
    images = {image.name: image for image in ImageStore(db).list()}

    registered = images["reg"]
    assert registered.files.kernel_file == Path("/srv/vmlinuz")  # not silently dropped
    assert registered.files.initrd == Path("/srv/initrd.img")
    assert registered.files.modules == Path("/srv/modules")
    assert registered.provenance is None
    [stored] = db.query("SELECT doc FROM images WHERE name = 'reg'")
    assert "kernel" not in json.loads(stored["doc"])["files"]  # one name, one meaning

    promoted = images["promoted"]
    assert promoted.files.work_seed == Path("/w.ext4") and promoted.files.kernel_file is None
    assert promoted.provenance is None

    pulled = images["pulled"].provenance
    assert isinstance(pulled, PullProvenance)
    assert not pulled.has_sshd and pulled.layers == ["sha256:l1", "sha256:l2"]

    bootstrapped = images["boot"].provenance
    assert isinstance(bootstrapped, BootstrapProvenance) and bootstrapped.packages == 212

    built = images["built-old"].provenance
    assert isinstance(built, BuildProvenance)
    assert built.via == "console" and built.steps == ["run: apk add openssh"]
    assert built.built_at.year == 2026


def test_migrated_rows_round_trip_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the store writes back after migration reads back as the same model."""
    _schema_4_db(tmp_path / "b.db", monkeypatch)
    store = ImageStore(Database(tmp_path / "b.db"))
    for image in store.list():
        store.update(image)
        assert store.get(image.id) == image
