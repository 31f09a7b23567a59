"""Wiring: build every service from the config, once, at daemon start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from banger.config.models import DaemonConfig
from banger.ops.manager import OperationManager
from banger.store import Database, ImageStore, KernelStore, OperationStore, StateLayout, VMStore

log = logging.getLogger("banger.daemon")


@dataclass
class Services:
    config: DaemonConfig
    layout: StateLayout
    db: Database
    ops: OperationManager
    kernels: KernelStore
    images: ImageStore
    vms: VMStore

    def close(self) -> None:
        self.db.close()


def build_services(config: DaemonConfig) -> Services:
    layout = StateLayout(config.state_dir)
    layout.ensure()
    db = Database(layout.db)
    return Services(
        config=config,
        layout=layout,
        db=db,
        ops=OperationManager(OperationStore(db)),
        kernels=KernelStore(db),
        images=ImageStore(db),
        vms=VMStore(db),
    )
