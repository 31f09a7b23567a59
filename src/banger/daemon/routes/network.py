"""Host network teardown (what `banger daemon uninstall` calls)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from banger.daemon.openapi import errors
from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services
from banger.errors import PermissionDenied

router = APIRouter(prefix="/network", tags=["network"])


@router.post("/teardown", responses=errors(409))
def teardown(svc: Services = Depends(services), who: Actor = Depends(actor)) -> dict[str, str]:
    """Remove banger's bridge and nftables table; refused while a VM runs."""
    # Host plumbing every user's VMs share, and the refusal names everyone's VMs: admins only.
    if not who.admin:
        raise PermissionDenied(
            "only root or an admin may tear down banger's network",
            hint="run it as root: sudo banger daemon uninstall",
        )
    return {"bridge": svc.vm_service.teardown_network(), "state": "removed"}
