"""Versioned schema migrations: append only; each entry moves the schema up one version."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: operations and their logs
    """
    CREATE TABLE operations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT,
        state TEXT NOT NULL CHECK (state IN
            ('queued','running','succeeded','failed','cancelled')),
        stage TEXT,
        progress TEXT NOT NULL DEFAULT '{}',
        tasks TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        result TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT
    );
    CREATE TABLE operation_logs (
        operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (operation_id, seq)
    );
    """,
    # 2: kernels, images, VMs and IP leases
    """
    CREATE TABLE kernels (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kernel_id TEXT REFERENCES kernels(id) ON DELETE RESTRICT,
        doc TEXT NOT NULL
    );
    CREATE TABLE vms (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
        doc TEXT NOT NULL,
        handle TEXT
    );
    CREATE TABLE ip_leases (
        subnet TEXT NOT NULL,
        ip TEXT NOT NULL,
        vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        PRIMARY KEY (subnet, ip)
    );
    """,
    # 3: leases belong to an owner (a VM id, or "build-<id>" for a hidden builder VM)
    """
    CREATE TABLE ip_leases_v3 (
        subnet TEXT NOT NULL,
        ip TEXT NOT NULL,
        owner TEXT NOT NULL,
        PRIMARY KEY (subnet, ip)
    );
    INSERT INTO ip_leases_v3 (subnet, ip, owner) SELECT subnet, ip, vm_id FROM ip_leases;
    DROP TABLE ip_leases;
    ALTER TABLE ip_leases_v3 RENAME TO ip_leases;
    CREATE INDEX ip_leases_owner ON ip_leases (owner);
    """,
    # 4: every object has an owner (the uid that created it; rows from before owners are
    # root's), and kernels and images can be shared with every member of the socket group
    """
    ALTER TABLE kernels ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE kernels ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));
    ALTER TABLE images ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE images ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));
    ALTER TABLE vms ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE operations ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX operations_owner ON operations (owner_uid, created_at);
    """,
    # 5: image documents typed (api.models.ImageFiles, Provenance): a registered image's own
    # kernel file moves from files.kernel to files.kernel_file (`kernel` names a managed
    # kernel); provenance says which kind of operation made the image (its source's kind),
    # builds from before the ssh transport ran on the console, and images banger did not
    # make (register, promote) have none rather than {}
    """
    UPDATE images SET doc = json_remove(
            json_set(doc, '$.files.kernel_file', json_extract(doc, '$.files.kernel')),
            '$.files.kernel')
        WHERE json_type(doc, '$.files.kernel') IS NOT NULL;
    UPDATE images SET doc = json_set(doc, '$.provenance.kind', json_extract(doc, '$.source.kind'))
        WHERE json_type(doc, '$.provenance') = 'object'
            AND json_extract(doc, '$.provenance') != '{}'
            AND json_extract(doc, '$.source.kind') IN ('pull', 'bootstrap', 'build');
    UPDATE images SET doc = json_set(doc, '$.provenance.via', 'console')
        WHERE json_extract(doc, '$.provenance.kind') = 'build'
            AND json_type(doc, '$.provenance.via') IS NULL;
    UPDATE images SET doc = json_set(doc, '$.provenance', json('null'))
        WHERE json_type(doc, '$.provenance.kind') IS NULL;
    """,
]
