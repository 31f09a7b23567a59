"""Every Firecracker API request body as a pure function of the VM spec.

Each builder returns plain JSON-able dicts shaped by firecracker-api.yaml (the unit tests
validate them against that spec's schemas). `boot_requests` is the ordered list of named
configuration steps that `start` sends before InstanceStart, like firecracker-go-sdk's
handler list: variants edit the list rather than adding branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from banger.vmm.base import VMSpec

Json = dict[str, Any]
Action = Literal["InstanceStart", "SendCtrlAltDel", "FlushMetrics"]


@dataclass(frozen=True)
class ApiRequest:
    step: str  # a name for progress reports and error messages
    method: Literal["PUT", "PATCH"]
    path: str
    body: Json


@dataclass(frozen=True)
class RuntimePaths:
    """Where the VMM's own files live (all inside the VM directory)."""

    api_socket: Path
    log: Path
    metrics: Path
    vsock: Path


def runtime_paths(vm_dir: Path) -> RuntimePaths:
    return RuntimePaths(
        api_socket=vm_dir / "firecracker.sock",
        log=vm_dir / "firecracker.log",
        metrics=vm_dir / "firecracker.metrics",
        vsock=vm_dir / "vsock.sock",
    )


def logger_args(log_path: Path, level: str = "Info") -> list[str]:
    """Firecracker's own log, set on its command line rather than by PUT /logger: until a
    logger is configured Firecracker writes its log to stdout, which is the guest's serial
    console, so its start-up lines would pass for guest output (and for boot progress)."""
    return ["--log-path", str(log_path), "--level", level, "--show-level"]


def metrics_payload(metrics_path: Path) -> Json:
    return {"metrics_path": str(metrics_path)}


def machine_config_payload(spec: VMSpec) -> Json:
    return {"vcpu_count": spec.cpus, "mem_size_mib": spec.memory_mib, "smt": False}


def boot_source_payload(spec: VMSpec) -> Json:
    body: Json = {"kernel_image_path": str(spec.kernel), "boot_args": spec.cmdline}
    if spec.initrd is not None:
        body["initrd_path"] = str(spec.initrd)
    return body


def drive_payloads(spec: VMSpec) -> list[Json]:
    """One body per drive; the first drive is the root device."""
    return [
        {
            "drive_id": drive.id,
            "path_on_host": str(drive.path),
            "is_root_device": index == 0,
            "is_read_only": drive.read_only,
        }
        for index, drive in enumerate(spec.drives)
    ]


def network_interface_payload(spec: VMSpec) -> Json | None:
    if spec.net is None:
        return None
    return {"iface_id": "eth0", "host_dev_name": spec.net.tap, "guest_mac": spec.net.mac}


def vsock_payload(spec: VMSpec, uds_path: Path) -> Json | None:
    if spec.vsock_cid is None:
        return None
    return {"guest_cid": spec.vsock_cid, "uds_path": str(uds_path)}


def action_payload(action: Action) -> Json:
    return {"action_type": action}


def boot_requests(spec: VMSpec, paths: RuntimePaths) -> list[ApiRequest]:
    """The pre-boot configuration, in the order Firecracker accepts it, ending in InstanceStart."""
    requests = [
        ApiRequest("configure metrics", "PUT", "/metrics", metrics_payload(paths.metrics)),
        ApiRequest("configure machine", "PUT", "/machine-config", machine_config_payload(spec)),
        ApiRequest("set boot source", "PUT", "/boot-source", boot_source_payload(spec)),
    ]
    for body in drive_payloads(spec):
        path = f"/drives/{body['drive_id']}"
        requests.append(ApiRequest(f"attach drive {body['drive_id']}", "PUT", path, body))
    if (net := network_interface_payload(spec)) is not None:
        path = f"/network-interfaces/{net['iface_id']}"
        requests.append(ApiRequest("attach network", "PUT", path, net))
    if (vsock := vsock_payload(spec, paths.vsock)) is not None:
        requests.append(ApiRequest("attach vsock", "PUT", "/vsock", vsock))
    requests.append(
        ApiRequest("start instance", "PUT", "/actions", action_payload("InstanceStart"))
    )
    return requests
