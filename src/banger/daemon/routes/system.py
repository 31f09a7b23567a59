"""Version and doctor."""

from __future__ import annotations

import os
import platform

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from banger import __version__
from banger.api.models import DoctorReport, VersionInfo
from banger.daemon.routes.deps import services
from banger.daemon.services import Services
from banger.doctor import host_checks

router = APIRouter(tags=["system"])


@router.get("/version", response_model=VersionInfo)
def version() -> VersionInfo:
    return VersionInfo(version=__version__, python=platform.python_version(), pid=os.getpid())


@router.get("/doctor", response_model=DoctorReport)
async def doctor(svc: Services = Depends(services)) -> DoctorReport:
    cfg = svc.config
    checks = await run_in_threadpool(
        host_checks, cfg.qemu_bin, cfg.firecracker_bin, cfg.state_dir, svc.vm_service.kvm_verdict
    )
    return DoctorReport(checks=checks, ok=all(c.status != "fail" for c in checks))
