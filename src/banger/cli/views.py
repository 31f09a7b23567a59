"""The read verbs' bodies: the daemon's JSON printed as it comes, or as a table or fields.

The daemon's JSON is the API model's already (docs/cli-json.md), so these neither import
the models nor re-validate what they only print; nor do they need typer. The typer verbs
and the quick path (cli.quick) both call them, so each body exists once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from banger import __version__
from banger.cli.output import print_fields, print_json, print_table
from banger.cli.state import CliState
from banger.errors import BangerError

VM_COLUMNS = ["name", "owner", "state", "backend", "image", "ip", "cpus", "memory"]
IMAGE_COLUMNS = ["name", "owner", "shared", "managed", "kernel", "source", "size", "created"]
OP_COLUMNS = ["id", "kind", "owner", "target", "state", "stage", "progress", "created"]


def when(iso: str | None) -> str | None:
    """An API time (ISO 8601, UTC) as tables show it."""
    return datetime.fromisoformat(iso).strftime("%F %T") if iso else None


def version(st: CliState, *, as_json: bool) -> None:
    """Print the CLI version (and the daemon's, when it answers)."""
    _ = st.config  # a broken config is an error even here
    try:
        daemon_version = st.client.get("/version")["version"]
    except BangerError:
        daemon_version = None
    if as_json:
        print_json({"cli": __version__, "daemon": daemon_version})
    else:
        print(f"banger {__version__} (daemon: {daemon_version or 'not reachable'})")


def vm_row(vm: dict[str, Any]) -> dict[str, object]:
    return {**{key: vm.get(key) for key in VM_COLUMNS[:-1]}, "memory": f"{vm['memory_mib']} MiB"}


def vm_list(st: CliState, *, as_json: bool) -> None:
    vms = st.client.get("/vms")
    if as_json:
        print_json(vms)
    else:
        rows = [vm_row(v) for v in vms]
        print_table(rows, VM_COLUMNS, empty="no VMs (create one: banger vm create --wait)")


def vm_show(st: CliState, name: str, *, as_json: bool) -> None:
    vm = st.client.get(f"/vms/{name}")
    if as_json:
        print_json(vm)
    else:
        print_fields({k: v for k, v in vm.items() if k not in {"authorized_keys", "ssh_host_key"}})


def image_summary(image: dict[str, Any]) -> dict[str, object]:
    size = image.get("size_bytes")
    return {
        "name": image["name"],
        "owner": image.get("owner"),
        "shared": "yes" if image.get("shared") else "no",
        "managed": "yes" if image.get("managed") else "no",
        "kernel": image.get("kernel"),
        "source": image["source"].get("ref") or image["source"]["kind"],
        "size": f"{size / 2**20:.0f} MiB" if size else None,
        "created": when(image["created_at"]),
    }


def image_list(st: CliState, *, as_json: bool) -> None:
    images = st.client.get("/images")
    if as_json:
        print_json(images)
    else:
        print_table(
            [image_summary(i) for i in images],
            IMAGE_COLUMNS,
            empty="no images (build one: banger image bootstrap debian --name debian-12)",
        )


def image_show(st: CliState, name: str, *, as_json: bool) -> None:
    """An image with the host paths of its boot set."""
    image = st.client.get(f"/images/{name}")
    if as_json:
        print_json(image)
        return
    print_fields(
        {
            **image_summary(image),
            "id": image["id"],
            "digest": image["source"].get("digest"),
            "platform": image["source"].get("platform"),
            "files": {k: v for k, v in image["files"].items() if v is not None},
            "provenance": image.get("provenance"),
        }
    )


def op_row(op: dict[str, Any]) -> dict[str, object]:
    done = op.get("progress") or {}
    total, current = done.get("total"), done.get("current", 0)
    return {
        **{key: op.get(key) for key in OP_COLUMNS[:-2]},
        "progress": f"{100 * current // total}%" if total else "",
        "created": when(op["created_at"]),
    }


def ops_list(st: CliState, *, as_json: bool) -> None:
    """Operations, newest first."""
    ops = st.client.get("/operations")
    if as_json:
        print_json(ops)
    else:
        print_table([op_row(o) for o in ops], OP_COLUMNS, empty="no operations")


def ops_show(st: CliState, op_id: str, *, as_json: bool) -> None:
    """One operation with its log (the table shows the last 40 lines)."""
    op = st.client.get(f"/operations/{op_id}")
    lines = st.client.get(f"/operations/{op_id}/log")["lines"]
    if as_json:
        print_json({**op, "log": lines})
        return
    error = op.get("error")
    print_fields(
        {**op_row(op), "error": error["message"] if error else None, "ended": when(op["ended_at"])}
    )
    for line in lines[-40:]:
        print(f"  | {line}")
