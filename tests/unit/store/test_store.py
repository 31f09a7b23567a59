import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import Image, ImageFiles, ImageSource, Kernel
from banger.errors import Conflict, FailedPrecondition
from banger.store import Database, ImageStore, KernelStore, OperationStore
from banger.store import migrations as migrations_module


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    assert db.schema_version == len(migrations_module.MIGRATIONS)
    db.close()
    again = Database(tmp_path / "b.db")
    assert again.schema_version == len(migrations_module.MIGRATIONS)
    assert again.query("PRAGMA journal_mode")[0][0] == "wal"
    assert again.query("PRAGMA foreign_keys")[0][0] == 1


def test_failing_migration_leaves_schema_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Database(tmp_path / "b.db").close()
    broken = [*migrations_module.MIGRATIONS, "CREATE TABLE t (x INTEGER); THIS IS NOT SQL;"]
    monkeypatch.setattr("banger.store.db.MIGRATIONS", broken)
    with pytest.raises(sqlite3.Error):
        Database(tmp_path / "b.db")
    monkeypatch.undo()
    db = Database(tmp_path / "b.db")
    assert db.schema_version == len(migrations_module.MIGRATIONS)
    assert not db.query("SELECT name FROM sqlite_master WHERE name = 't'")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    db.execute("PRAGMA user_version = 999")
    db.close()
    with pytest.raises(FailedPrecondition, match="newer"):
        Database(tmp_path / "b.db")


def _kernel(name: str) -> Kernel:
    return Kernel(
        id=name + "id", name=name, version="6.1", arch="x86_64", created_at=datetime.now(UTC)
    )


def test_names_unique_and_foreign_keys_enforced(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    kernels, images = KernelStore(db), ImageStore(db)
    kernels.insert(_kernel("k1"))
    with pytest.raises(Conflict, match="already exists"):
        kernels.insert(_kernel("k1").model_copy(update={"id": "other"}))
    image = Image(
        id="i1",
        name="img",
        managed=True,
        files=ImageFiles(rootfs=Path("/srv/root.ext4"), kernel_file=Path("/srv/vmlinuz")),
        source=ImageSource(kind="register"),
        created_at=datetime.now(UTC),
    )
    images.insert(image, keys={"kernel_id": "k1id"})
    assert [i.name for i in images.using_kernel("k1id")] == ["img"]
    with pytest.raises(sqlite3.IntegrityError):
        kernels.delete("k1id")
    assert images.get("img") == image
    assert images.get("i1") == image


def test_operation_records_and_logs(tmp_path: Path) -> None:
    from banger.api.models import Operation

    store = OperationStore(Database(tmp_path / "b.db"))
    op = Operation(id="o1", kind="test", state="running", created_at=datetime.now(UTC))
    store.save(op)
    store.append_log("o1", 1, "hello")
    assert store.log("o1") == ["hello"]
    assert store.fail_unfinished("daemon restarted", datetime.now(UTC).isoformat()) == 1
    failed = store.get("o1")
    assert failed is not None and failed.state == "failed"
    assert failed.error is not None and failed.error.message == "daemon restarted"
