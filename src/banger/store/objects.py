"""Kernels, images and VMs stored as validated JSON documents with relational keys.

The relational columns (name, kernel_id, image_id) carry the UNIQUE and FOREIGN KEY rules
the daemon relies on, owner_uid and shared whom an object belongs to; the document carries
the rest of the API model.
"""

from __future__ import annotations

import sqlite3
from typing import Generic, TypeVar

from pydantic import BaseModel

from banger.api.models import VM, Image, Kernel
from banger.errors import Conflict
from banger.store.db import Database

M = TypeVar("M", bound=BaseModel)

# Who owns an object and whether it is shared live in columns, not in the document: lists
# are filtered on them, and sharing changes one column without rewriting the document.
_OWNERSHIP = {"owner_uid", "shared", "owner"}


class DocumentStore(Generic[M]):
    table: str
    model: type[M]
    kind: str
    shareable: bool = False  # the table has a `shared` column (kernels, images)

    def __init__(self, db: Database) -> None:
        self.db = db

    def _doc(self, obj: M) -> str:
        return obj.model_dump_json(exclude=_OWNERSHIP)

    def _select(self) -> str:
        return f"SELECT doc, owner_uid{', shared' if self.shareable else ''} FROM {self.table}"

    def _load(self, row: sqlite3.Row) -> M:
        update: dict[str, object] = {"owner_uid": row["owner_uid"]}
        if self.shareable:
            update["shared"] = bool(row["shared"])
        return self.model.model_validate_json(row["doc"]).model_copy(update=update)

    def insert(
        self,
        obj: M,
        *,
        keys: dict[str, object] | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Insert `obj`; `keys` fills the relational columns (kernel_id, image_id)."""
        name = obj.name  # type: ignore[attr-defined]
        cols: dict[str, object] = {"id": obj.id, "name": name, "owner_uid": obj.owner_uid}  # type: ignore[attr-defined]
        if self.shareable:
            cols["shared"] = int(obj.shared)  # type: ignore[attr-defined]
        cols.update(keys or {})
        cols["doc"] = self._doc(obj)
        sql = (
            f"INSERT INTO {self.table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        )
        try:
            if conn is not None:
                conn.execute(sql, tuple(cols.values()))
            else:
                self.db.execute(sql, tuple(cols.values()))
        except sqlite3.IntegrityError as exc:
            # Names are unique across all users: say so without saying whose it is.
            raise Conflict(
                f"a {self.kind} named '{name}' already exists",
                hint="choose another name (names are unique across all users)",
            ) from exc

    def update(self, obj: M) -> None:
        """Rewrite the document; owner and sharing are left as they are."""
        self.db.execute(
            f"UPDATE {self.table} SET doc = ? WHERE id = ?",
            (self._doc(obj), obj.id),  # type: ignore[attr-defined]
        )

    def find(self, key: str) -> list[M]:
        """Every object `key` names: the one with that name first, then the one with that id
        (ids are hex, names are DNS labels, so a name can look like someone else's id)."""
        rows = self.db.query(
            f"{self._select()} WHERE name = ? OR id = ? ORDER BY name = ? DESC", (key, key, key)
        )
        return [self._load(r) for r in rows]

    def get(self, key: str) -> M | None:
        """Look up by name first, then by id, whoever owns it (callers check access)."""
        found = self.find(key)
        return found[0] if found else None

    def list(self) -> list[M]:
        rows = self.db.query(f"{self._select()} ORDER BY name")
        return [self._load(r) for r in rows]

    def delete(self, obj_id: str) -> None:
        self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (obj_id,))


class _Shareable(DocumentStore[M]):
    shareable = True

    def set_shared(self, obj_id: str, shared: bool) -> None:
        self.db.execute(f"UPDATE {self.table} SET shared = ? WHERE id = ?", (int(shared), obj_id))


class KernelStore(_Shareable[Kernel]):
    table, model, kind = "kernels", Kernel, "kernel"


class ImageStore(_Shareable[Image]):
    table, model, kind = "images", Image, "image"

    def using_kernel(self, kernel_id: str) -> list[Image]:
        rows = self.db.query(f"{self._select()} WHERE kernel_id = ? ORDER BY name", (kernel_id,))
        return [self._load(r) for r in rows]


class VMStore(DocumentStore[VM]):
    table, model, kind = "vms", VM, "VM"

    def using_image(self, image_id: str) -> list[VM]:
        rows = self.db.query(f"{self._select()} WHERE image_id = ? ORDER BY name", (image_id,))
        return [self._load(r) for r in rows]

    def set_handle(self, vm_id: str, handle_json: str | None) -> None:
        self.db.execute("UPDATE vms SET handle = ? WHERE id = ?", (handle_json, vm_id))

    def handle(self, vm_id: str) -> str | None:
        rows = self.db.query("SELECT handle FROM vms WHERE id = ?", (vm_id,))
        return rows[0]["handle"] if rows else None
