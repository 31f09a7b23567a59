"""Per-VM tap devices: named from the VM id, enslaved to the bridge, up."""

from __future__ import annotations

import hashlib
from contextlib import ExitStack

from banger.errors import CommandFailed, Conflict, InvalidArgument
from banger.network._host import get_link, list_links, run
from banger.network.config import check_interface_name

# "bt" + 12 hex digits = 14 characters, inside the 15 Linux allows. The prefix is how a
# daemon restart finds taps it owns (list_banger_taps) without a database.
TAP_PREFIX = "bt"
_TAP_HEX = 12


def tap_name(vm_id: str) -> str:
    """The tap name for a VM: 'bt' + the first 12 hex digits of sha256(vm_id).

    Hashing (instead of truncating the id) keeps names uniformly spread even when ids share
    a prefix; 48 bits make a collision among one host's VMs negligible.
    """
    if not vm_id:
        raise InvalidArgument("a VM id is needed to name its tap", hint="pass the VM's id")
    digest = hashlib.sha256(b"banger-tap:" + vm_id.encode()).hexdigest()
    return TAP_PREFIX + digest[:_TAP_HEX]


def create_tap(
    name: str, bridge: str, *, owner: int | None = None, netns: str | None = None
) -> bool:
    """Make tap `name` exist, attached to `bridge` and up; True if it was created.

    `owner` lets that uid open the tap without root (a VMM run unprivileged). An existing
    tap is converged (master and up fixed), not recreated. On failure a tap we created is
    deleted again.
    """
    check_interface_name(name, what="tap")
    check_interface_name(bridge, what="bridge")
    created = False
    with ExitStack() as undo:
        link = get_link(name, netns)
        if link is None:
            # ip tuntap add dev NAME mode tap [user OWNER]
            argv = ["ip", "tuntap", "add", "dev", name, "mode", "tap"]
            if owner is not None:
                argv += ["user", str(owner)]
            added = run(argv, netns, check=False)
            link = get_link(name, netns)
            if link is None:
                raise CommandFailed(added.argv, added.returncode, added.stderr)
            if added.returncode == 0:
                created = True
                undo.callback(delete_tap, name, netns=netns)
        if link.kind != "tun":
            raise Conflict(
                f"interface {name!r} exists but is a {link.kind or 'plain'} device, not a tap",
                hint="remove that device, or give the VM another id",
            )
        if link.master != bridge:
            # ip link set dev NAME master BRIDGE
            run(
                ["ip", "link", "set", "dev", name, "master", bridge],
                netns,
                hint=f"check the bridge {bridge!r} exists (ensure_bridge)",
            )
        if not link.up:
            # ip link set dev NAME up
            run(["ip", "link", "set", "dev", name, "up"], netns)
        undo.pop_all()
    return created


def delete_tap(name: str, *, netns: str | None = None) -> bool:
    """Delete tap `name`; True if it existed. A tap already gone is success."""
    check_interface_name(name, what="tap")
    link = get_link(name, netns)
    if link is None:
        return False
    if link.kind != "tun":
        raise Conflict(
            f"refusing to delete {name!r}: it is a {link.kind or 'plain'} device, not a tap",
            hint="remove it by hand if it really is stale",
        )
    # ip link del dev NAME
    deleted = run(["ip", "link", "del", "dev", name], netns, check=False)
    if deleted.returncode != 0 and get_link(name, netns) is not None:
        raise CommandFailed(deleted.argv, deleted.returncode, deleted.stderr)
    return True


def list_banger_taps(prefix: str = TAP_PREFIX, *, netns: str | None = None) -> list[str]:
    """Names of tap devices starting with `prefix`, sorted (ip -d -j link show).

    For leak checks and for reaping taps of VMs that no longer run at daemon start.
    """
    if not prefix:
        raise InvalidArgument("an empty tap prefix would match every tap", hint="pass 'bt'")
    return sorted(
        link.name
        for link in list_links(netns)
        if link.kind == "tun" and link.name.startswith(prefix)
    )
