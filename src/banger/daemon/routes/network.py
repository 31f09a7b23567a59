"""Host network teardown (what `banger daemon uninstall` calls)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from banger.daemon.owners import Actor
from banger.daemon.routes.deps import actor, services
from banger.daemon.services import Services
from banger.errors import Conflict, PermissionDenied
from banger.network import remove_bridge, remove_nat

router = APIRouter(prefix="/network", tags=["network"])


@router.post("/teardown")
def teardown(svc: Services = Depends(services), who: Actor = Depends(actor)) -> dict[str, str]:
    """Remove banger's bridge and nftables table; refused while a VM runs."""
    # Host plumbing every user's VMs share, and the refusal names everyone's VMs: admins only.
    if not who.admin:
        raise PermissionDenied(
            "only root or an admin may tear down banger's network",
            hint="run it as root: sudo banger daemon uninstall",
        )
    running = [vm.name for vm in svc.vms.list() if vm.is_active]
    if running:
        raise Conflict(
            f"VMs are still running: {', '.join(running)}",
            hint="stop them first: banger vm stop NAME",
        )
    remove_nat(svc.vm_service.booter.net)  # nft delete table ip banger
    remove_bridge(svc.vm_service.booter.net)  # ip link del banger0
    return {"bridge": svc.vm_service.booter.net.bridge, "state": "removed"}
