"""The configured ceilings ([limits]) applied to a request before any work starts.

A request's sizes become sparse files, memory and vCPU threads on this host: a 10 TiB
`--disk-size` must fail at once with one line naming the limit, not after half a disk was
made. Sizes are also checked against the free space where they will live (a sparse file
larger than its filesystem's free space would fill it later, while the guest writes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

from banger.config.models import LimitSettings
from banger.errors import FailedPrecondition, InvalidArgument

_CONFIG = "/etc/banger/config.toml"
# Which CLI flag sets each request field, so the error speaks the user's words.
_FLAGS = {
    "disk_size_mib": "--disk-size",
    "size_mib": "--size",
    "free_mib": "--free",
    "memory_mib": "--memory",
    "cpus": "--cpus",
}


def check_disk_mib(field: str, mib: int, limits: LimitSettings, where: Path) -> None:
    flag = _FLAGS[field]
    if mib > limits.max_disk_mib:
        raise InvalidArgument(
            f"{flag} {mib} MiB is above the limit {limits.max_disk_mib} MiB "
            "(config limits.max_disk_mib)",
            hint=f"ask for less, or raise [limits] max_disk_mib in {_CONFIG}",
        )
    free_mib = shutil.disk_usage(where).free >> 20
    if mib > free_mib:
        raise FailedPrecondition(
            f"{flag} {mib} MiB is more than the {free_mib} MiB free on {where}'s filesystem",
            hint="ask for less, or free space on the host first",
        )


def check_request(request: BaseModel, limits: LimitSettings, where: Path) -> None:
    """Refuse `request` if a size, memory or vCPU count in it is over its configured limit."""
    for field in ("disk_size_mib", "size_mib", "free_mib"):
        mib = getattr(request, field, None)
        if mib is not None:
            check_disk_mib(field, mib, limits, where)
    memory = getattr(request, "memory_mib", None)
    if memory is not None and memory > limits.max_memory_mib:
        raise InvalidArgument(
            f"--memory {memory} MiB is above the limit {limits.max_memory_mib} MiB "
            "(config limits.max_memory_mib)",
            hint=f"ask for less, or raise [limits] max_memory_mib in {_CONFIG}",
        )
    cpus = getattr(request, "cpus", None)
    if cpus is not None and cpus > limits.max_cpus:
        raise InvalidArgument(
            f"--cpus {cpus} is above the limit {limits.max_cpus} (config limits.max_cpus)",
            hint=f"ask for fewer, or raise [limits] max_cpus in {_CONFIG}",
        )
