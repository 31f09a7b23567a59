"""Kernels, images and VMs stored as validated JSON documents with relational keys.

The relational columns (name, kernel_id, image_id) carry the UNIQUE and FOREIGN KEY rules
the daemon relies on; the document carries the rest of the API model.
"""

from __future__ import annotations

import sqlite3
from typing import Generic, TypeVar

from pydantic import BaseModel

from banger.api.models import VM, Image, Kernel
from banger.errors import Conflict
from banger.store.db import Database

M = TypeVar("M", bound=BaseModel)


class DocumentStore(Generic[M]):
    table: str
    model: type[M]
    kind: str

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(
        self,
        obj: M,
        *,
        keys: dict[str, object] | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Insert `obj`; `keys` fills the relational columns (kernel_id, image_id)."""
        name = obj.name  # type: ignore[attr-defined]
        cols = {"id": obj.id, "name": name, **(keys or {}), "doc": obj.model_dump_json()}  # type: ignore[attr-defined]
        sql = (
            f"INSERT INTO {self.table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        )
        try:
            if conn is not None:
                conn.execute(sql, tuple(cols.values()))
            else:
                self.db.execute(sql, tuple(cols.values()))
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"a {self.kind} named '{name}' already exists",
                hint=f"choose another name or delete the existing {self.kind} first",
            ) from exc

    def update(self, obj: M) -> None:
        self.db.execute(
            f"UPDATE {self.table} SET doc = ? WHERE id = ?",
            (obj.model_dump_json(), obj.id),  # type: ignore[attr-defined]
        )

    def get(self, key: str) -> M | None:
        """Look up by name first, then by id (ids are hex, names are DNS labels)."""
        rows = self.db.query(
            f"SELECT doc FROM {self.table} WHERE name = ? OR id = ? ORDER BY name = ? DESC",
            (key, key, key),
        )
        return self.model.model_validate_json(rows[0]["doc"]) if rows else None

    def list(self) -> list[M]:
        rows = self.db.query(f"SELECT doc FROM {self.table} ORDER BY name")
        return [self.model.model_validate_json(r["doc"]) for r in rows]

    def delete(self, obj_id: str) -> None:
        self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (obj_id,))


class KernelStore(DocumentStore[Kernel]):
    table, model, kind = "kernels", Kernel, "kernel"


class ImageStore(DocumentStore[Image]):
    table, model, kind = "images", Image, "image"

    def names_using_kernel(self, kernel_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT name FROM images WHERE kernel_id = ? ORDER BY name", (kernel_id,)
        )
        return [r["name"] for r in rows]


class VMStore(DocumentStore[VM]):
    table, model, kind = "vms", VM, "VM"

    def names_using_image(self, image_id: str) -> list[str]:
        rows = self.db.query("SELECT name FROM vms WHERE image_id = ? ORDER BY name", (image_id,))
        return [r["name"] for r in rows]

    def set_handle(self, vm_id: str, handle_json: str | None) -> None:
        self.db.execute("UPDATE vms SET handle = ? WHERE id = ?", (handle_json, vm_id))

    def handle(self, vm_id: str) -> str | None:
        rows = self.db.query("SELECT handle FROM vms WHERE id = ?", (vm_id,))
        return rows[0]["handle"] if rows else None
