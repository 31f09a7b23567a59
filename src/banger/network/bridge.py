"""The host bridge VMs' taps attach to; it carries the subnet's gateway address."""

from __future__ import annotations

from contextlib import ExitStack

from banger.errors import CommandFailed, Conflict
from banger.network._host import Link, get_link, run
from banger.network.config import NetworkConfig, check_interface_name


def _require_bridge(link: Link) -> None:
    if link.kind != "bridge":
        raise Conflict(
            f"interface {link.name!r} exists but is a {link.kind or 'plain'} device, not a bridge",
            hint="set another bridge name in the daemon network config, or remove that device",
        )


def ensure_bridge(cfg: NetworkConfig, *, netns: str | None = None) -> bool:
    """Make the bridge exist, carry the gateway address and be up; True if it was created.

    Measure, then act: an existing, correct bridge is left untouched. Other addresses on
    the bridge are kept (an operator may have added them). If a step fails after we created
    the bridge, the bridge is deleted again.
    """
    name = check_interface_name(cfg.bridge, what="bridge")
    created = False
    with ExitStack() as undo:
        link = get_link(name, netns)
        if link is None:
            # ip link add name BR type bridge
            added = run(["ip", "link", "add", "name", name, "type", "bridge"], netns, check=False)
            link = get_link(name, netns)
            if link is None:
                raise CommandFailed(added.argv, added.returncode, added.stderr)
            if added.returncode == 0:
                created = True
                # ip link del dev BR
                undo.callback(run, ["ip", "link", "del", "dev", name], netns, check=False)
            # else another caller created it between our look and our add: converge on it.
        _require_bridge(link)
        if cfg.gateway_cidr not in link.ipv4:
            # ip addr replace GW/PREFIX dev BR   (replace: adding twice is not an error)
            run(["ip", "addr", "replace", cfg.gateway_cidr, "dev", name], netns)
        if not link.up:
            # ip link set dev BR up
            run(["ip", "link", "set", "dev", name, "up"], netns)
        undo.pop_all()
    return created


def remove_bridge(cfg: NetworkConfig, *, netns: str | None = None) -> bool:
    """Delete the bridge; True if it existed. A bridge already gone is success.

    Taps still attached are detached by the kernel, not deleted: delete VMs' taps first.
    """
    name = check_interface_name(cfg.bridge, what="bridge")
    link = get_link(name, netns)
    if link is None:
        return False
    _require_bridge(link)  # never delete a device that is not ours in kind
    # ip link del dev BR
    deleted = run(["ip", "link", "del", "dev", name], netns, check=False)
    if deleted.returncode != 0 and get_link(name, netns) is not None:
        raise CommandFailed(deleted.argv, deleted.returncode, deleted.stderr)
    return True
