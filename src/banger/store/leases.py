"""IP leases in SQLite: the table's primary key makes a double allocation impossible.

An owner is a VM id, or "build-<id>" for a builder VM.
"""

from __future__ import annotations

import sqlite3
from ipaddress import IPv4Address

from banger.store.db import Database


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def taken(self, subnet: str) -> set[IPv4Address]:
        rows = self.db.query("SELECT ip FROM ip_leases WHERE subnet = ?", (subnet,))
        return {IPv4Address(r["ip"]) for r in rows}

    def insert(self, subnet: str, ip: IPv4Address, owner: str) -> bool:
        """False if another owner took `ip` first (the caller picks another)."""
        try:
            self.db.execute(
                "INSERT INTO ip_leases (subnet, ip, owner) VALUES (?,?,?)", (subnet, str(ip), owner)
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def release(self, owner: str) -> None:
        self.db.execute("DELETE FROM ip_leases WHERE owner = ?", (owner,))

    def owners(self, prefix: str) -> list[str]:
        # substr, not LIKE: LIKE treats "_" as a wildcard and ignores case.
        rows = self.db.query(
            "SELECT owner FROM ip_leases WHERE substr(owner, 1, ?) = ?", (len(prefix), prefix)
        )
        return [r["owner"] for r in rows]
