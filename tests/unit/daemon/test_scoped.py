"""Scoped lookups over a real store: hidden objects fail exactly like missing ones."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import VM, Image, ImageFiles, ImageSource, Kernel, Operation, VMState
from banger.daemon.owners import ROOT, Access, Actor
from banger.daemon.scoped import Scoped, in_use
from banger.errors import BangerError, Conflict, NotFound, PermissionDenied
from banger.store import Database, ImageStore, KernelStore, OperationStore, VMStore
from banger.store.migrations import MIGRATIONS

A, B = Actor(1001, False), Actor(1002, False)
HINT = "list them: banger image list"
NOW = datetime.now(UTC)


def _image(name: str, owner: int, shared: bool = False) -> Image:
    return Image(
        id=f"{name}-id",
        name=name,
        owner_uid=owner,
        shared=shared,
        managed=True,
        files=ImageFiles(rootfs=Path(f"/srv/{name}.ext4")),
        source=ImageSource(kind="register"),
        created_at=NOW,
    )


@pytest.fixture
def images(tmp_path: Path) -> Scoped[Image]:
    store = ImageStore(Database(tmp_path / "b.db"))
    store.insert(_image("mine", A.uid))
    store.insert(_image("theirs", B.uid))
    store.insert(_image("common", B.uid, shared=True))
    return Scoped(store, "image")


def _message(exc: BangerError) -> tuple[str, str, str | None]:
    return (exc.code, exc.message, exc.hint)


def test_someone_elses_object_is_reported_like_a_missing_one(images: Scoped[Image]) -> None:
    with pytest.raises(NotFound) as hidden:
        images.find("theirs", A)
    with pytest.raises(NotFound) as missing:
        images.find("nothing-here", A)
    # Word for word the same, but for the name asked about.
    assert _message(hidden.value) == ("not_found", "no image named 'theirs'", HINT)
    assert _message(missing.value) == ("not_found", "no image named 'nothing-here'", HINT)
    with pytest.raises(NotFound):
        images.find("theirs-id", A)  # by id too
    with pytest.raises(NotFound):
        images.find("theirs", A, Access.MANAGE)


def test_shared_objects_are_usable_but_not_changeable(images: Scoped[Image]) -> None:
    assert images.find("common", A).name == "common"
    with pytest.raises(PermissionDenied) as refused:
        images.find("common", A, Access.MANAGE, "delete")
    assert "only its owner or an admin may delete it" in refused.value.message
    assert str(B.uid) not in refused.value.one_line()  # the owner is not named
    assert images.find("common", B, Access.MANAGE).name == "common"


def test_lists_hold_own_and_shared_objects_admins_see_all(images: Scoped[Image]) -> None:
    assert [i.name for i in images.visible(A)] == ["common", "mine"]
    assert [i.name for i in images.visible(B)] == ["common", "theirs"]
    assert [i.name for i in images.visible(ROOT)] == ["common", "mine", "theirs"]


def test_name_clashes_do_not_name_the_owner(images: Scoped[Image]) -> None:
    with pytest.raises(Conflict) as clash:
        images.ensure_free("theirs", A)
    assert clash.value.message == "an image named 'theirs' already exists"
    assert "delete" not in (clash.value.hint or "") and str(B.uid) not in clash.value.one_line()
    with pytest.raises(Conflict) as own:
        images.ensure_free("mine", A)
    assert "banger image delete mine" in (own.value.hint or "")
    images.ensure_free("fresh", A)


def test_a_name_that_looks_like_someone_elses_id_finds_the_visible_one(
    images: Scoped[Image],
) -> None:
    # B names an image after A's image id: A asking by that id still gets their own image.
    images.store.insert(_image("mine-id", B.uid).model_copy(update={"id": "other"}))
    assert images.find("mine-id", A).name == "mine"
    assert images.find("mine-id", B).name == "mine-id"


def test_in_use_names_only_what_the_caller_may_see() -> None:
    def vm(name: str, owner: int) -> VM:
        return VM(
            id=name, name=name, owner_uid=owner, state=VMState.STOPPED, backend="qemu",
            image="common", cpus=1, memory_mib=64, created_at=NOW,
        )  # fmt: skip

    users = [vm("a1", A.uid), vm("b1", B.uid), vm("b2", B.uid)]
    error = in_use("image 'common'", "VM(s)", users, A, hint="delete those VMs first")
    assert error.message == "image 'common' is used by VM(s): a1, 2 of other users"
    assert "b1" not in error.one_line() and "ask them or an admin" in (error.hint or "")
    assert "b1, b2" in in_use("image 'common'", "VM(s)", users, ROOT, hint="x").message


def test_sharing_is_a_column_the_document_never_overrides(tmp_path: Path) -> None:
    db = Database(tmp_path / "b.db")
    kernels = KernelStore(db)
    kernel = Kernel(id="k", name="k", owner_uid=A.uid, version="6.1", arch="x86_64",
                    created_at=NOW)  # fmt: skip
    kernels.insert(kernel)
    kernels.set_shared("k", True)
    kernels.update(kernel.model_copy(update={"version": "6.2", "owner_uid": 0, "shared": False}))
    stored = kernels.get("k")
    assert stored is not None and stored.version == "6.2"
    assert (stored.owner_uid, stored.shared) == (A.uid, True)
    doc = db.query("SELECT doc FROM kernels")[0]["doc"]
    assert "owner" not in doc and "shared" not in doc


def test_migration_makes_existing_rows_roots_and_unshared(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"{script}\nPRAGMA user_version={version};")
    image = _image("old", 0).model_dump_json(exclude={"owner_uid", "shared", "owner"})
    conn.execute("INSERT INTO images (id, name, doc) VALUES ('old-id', 'old', ?)", (image,))
    conn.execute(
        "INSERT INTO operations (id, kind, state, created_at) VALUES ('o', 'x', 'succeeded', ?)",
        (NOW.isoformat(),),
    )
    conn.commit()
    conn.close()
    db = Database(path)
    assert db.schema_version == len(MIGRATIONS)
    old = ImageStore(db).get("old")
    assert old is not None and (old.owner_uid, old.shared, old.owner) == (0, False, "root")
    ops = OperationStore(db)
    assert [o.owner_uid for o in ops.list()] == [0]
    assert ops.list(owner_uid=A.uid) == []
    VMStore(db)  # the vms table gained its column too
    assert db.query("SELECT owner_uid FROM vms") == []


def test_operation_lists_filter_by_owner_before_the_limit(tmp_path: Path) -> None:
    ops = OperationStore(Database(tmp_path / "b.db"))
    for i in range(5):
        ops.save(Operation(id=f"b{i}", kind="x", owner_uid=B.uid, state="succeeded",
                           created_at=NOW))  # fmt: skip
    ops.save(Operation(id="a0", kind="x", owner_uid=A.uid, state="succeeded", created_at=NOW))
    assert [o.id for o in ops.list(limit=2, owner_uid=A.uid)] == ["a0"]
    assert len(ops.list(limit=10)) == 6
