"""Wiring: build every service from the config, once; `Services.start` then acts on the host."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from banger.config.models import DaemonConfig
from banger.daemon.builds import BuildService
from banger.daemon.console_trim import ConsoleTrimmer
from banger.daemon.images import ImageService
from banger.daemon.kernel_catalog import KernelCatalog
from banger.daemon.kernels import KernelService
from banger.daemon.leases import Leases
from banger.daemon.leftovers import clean_at_start, ram_scratch_dir, release_ram_scratch
from banger.daemon.pull import PullService
from banger.daemon.vm_boot import Booter
from banger.daemon.vm_host import HostPolicy
from banger.daemon.vm_monitor import Monitor, reconcile
from banger.daemon.vms import VMService
from banger.doctor import VerdictCache
from banger.guest.boot_watch import StallLimits
from banger.network import NetworkConfig
from banger.oci import ReplayLimits
from banger.ops.manager import OperationManager
from banger.ops.oplog import LogLimits
from banger.store import Database, ImageStore, KernelStore, OperationStore, StateLayout, VMStore
from banger.vmm.firecracker.jail import JailSettings

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
    kernel_service: KernelService
    kernel_catalog: KernelCatalog
    image_service: ImageService
    vm_service: VMService
    pull_service: PullService
    build_service: BuildService
    monitor: Monitor
    console_trimmer: ConsoleTrimmer

    def start(self) -> None:
        """Bring host state in line with the records, then watch running VMMs."""
        reconcile(self.vm_service)
        self.build_service.release_interrupted()
        self.monitor.start()
        self.console_trimmer.start()

    def close(self) -> None:
        self.console_trimmer.stop()
        self.monitor.stop()
        self.db.close()
        release_ram_scratch(self.pull_service.ram_dir)


def _jail_settings(config: DaemonConfig) -> JailSettings | None:
    if not config.use_jailer:
        return None
    assert config.jailer_uid is not None and config.jailer_gid is not None  # the config checks
    return JailSettings(
        jailer_bin=str(config.jailer_bin or "jailer"),
        uid=config.jailer_uid,
        gid=config.jailer_gid,
        cgroups=tuple(config.jailer_cgroups),
    )


def build_services(config: DaemonConfig) -> Services:
    layout = StateLayout(config.state_dir)
    layout.ensure()
    ram_dir = clean_at_start(layout, ram_scratch_dir(layout.root))
    db = Database(layout.db)
    ops = OperationManager(
        OperationStore(db),
        config.operation_retention_days,
        LogLimits.of_total(config.limits.operation_log_lines),
    )
    kernels, images, vms = KernelStore(db), ImageStore(db), VMStore(db)
    image_service = ImageService(
        layout, images, kernels, vms, ops, config.images.free_space_mib, config.images.debian_mirror
    )
    net = NetworkConfig(
        bridge=config.network.bridge,
        subnet=config.network.subnet,
        nft_table=config.network.nft_table,
    )
    booter = Booter(
        net=net,
        dns=list(config.network.dns),
        leases=Leases(db, str(config.network.subnet)),
        stall=StallLimits(
            kernel_seconds=config.boot.kernel_stall_seconds,
            userspace_seconds=config.boot.userspace_stall_seconds,
        ),
        ready_timeout=config.boot.ready_timeout_seconds,
    )
    host = HostPolicy(
        config.qemu_bin,
        config.firecracker_bin,
        config.default_backend,
        config.accel,
        verdicts=VerdictCache(layout.kvm_verdicts),
        probe_dir=layout.tmp,
        probe_seconds=config.boot.kvm_probe_seconds,
        jail=_jail_settings(config),
    )
    vm_service = VMService(
        layout,
        vms,
        kernels,
        image_service,
        ops,
        booter,
        host,
        config.clone_strategy,
        (config.default_cpus, config.default_memory_mib),
    )
    monitor = Monitor(vm_service)
    kernel_service = KernelService(layout, kernels, images, ops)
    kernel_catalog = KernelCatalog(kernel_service, list(config.oci.insecure_registries))
    pull_service = _pull_service(config, layout, image_service, ram_dir)
    pull_service.kernel_catalog = kernel_catalog  # `image pull --kernel-ref REF`
    return Services(
        config=config,
        layout=layout,
        db=db,
        ops=ops,
        kernels=kernels,
        images=images,
        vms=vms,
        kernel_service=kernel_service,
        kernel_catalog=kernel_catalog,
        image_service=image_service,
        vm_service=vm_service,
        pull_service=pull_service,
        build_service=BuildService(
            layout,
            image_service,
            booter,
            host,
            config.clone_strategy,
            (config.default_cpus, config.default_memory_mib),
        ),
        monitor=monitor,
        console_trimmer=ConsoleTrimmer(layout, config.limits.console_log_bytes),
    )


def _pull_service(
    config: DaemonConfig, layout: StateLayout, images: ImageService, ram_dir: Path | None
) -> PullService:
    limits = ReplayLimits(
        max_entries=config.oci.max_layer_entries,
        max_total_bytes=config.oci.max_uncompressed_gib * 2**30,
    )
    return PullService(
        images, layout.cache, list(config.oci.insecure_registries), limits, ram_dir=ram_dir
    )
