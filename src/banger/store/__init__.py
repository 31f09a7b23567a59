"""banger's persistent state: SQLite database, migrations, state-dir layout."""

from banger.store.db import Database
from banger.store.layout import StateLayout
from banger.store.objects import ImageStore, KernelStore, VMStore
from banger.store.operations import OperationStore

__all__ = ["Database", "ImageStore", "KernelStore", "OperationStore", "StateLayout", "VMStore"]
