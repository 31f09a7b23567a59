"""Fetch Debian's cloud kernel package with apt, for hosts without a kernel of their own."""

from __future__ import annotations

import re
from pathlib import Path

from banger import proc
from banger.errors import FailedPrecondition, NotFound
from banger.ops.reporter import Reporter

METAPACKAGE = "linux-image-cloud-amd64"
REAL_PACKAGE = re.compile(r"^\s*Depends:\s*(linux-image-\S+-cloud-amd64)\s*$", re.MULTILINE)


def resolve_cloud_kernel_package(metapackage: str = METAPACKAGE) -> str:
    """The versioned package the metapackage depends on ("linux-image-6.1.0-28-cloud-amd64")."""
    # apt-cache depends PKG prints "  Depends: linux-image-6.1.0-28-cloud-amd64"
    result = proc.run(
        ["apt-cache", "depends", metapackage],
        hint="run apt-get update, and check /etc/apt/sources.list reaches a Debian mirror",
    )
    match = REAL_PACKAGE.search(result.stdout)
    if match is None:
        raise NotFound(
            f"{metapackage} does not depend on a linux-image-*-cloud-amd64 package",
            hint="run apt-get update; the package lists may be stale",
        )
    return match.group(1)


def download_debian_kernel(workdir: Path, reporter: Reporter) -> Path:
    """Download the current Debian cloud kernel .deb into `workdir`; return its path."""
    for tool in ("apt-get", "apt-cache"):
        try:
            proc.which(tool)
        except FailedPrecondition as exc:
            raise FailedPrecondition(
                f"'{tool}' is missing: downloading Debian kernels needs apt",
                hint="import a kernel file or package instead (banger kernel import PATH)",
            ) from exc
    reporter.stage("resolve")
    package = resolve_cloud_kernel_package()
    reporter.log(f"resolved {METAPACKAGE} -> {package}")
    reporter.stage("download")
    workdir.mkdir(parents=True, exist_ok=True)
    before = set(workdir.glob(f"{package}_*.deb"))
    # apt-get download writes into the current directory.
    proc.run(
        ["apt-get", "download", package],
        cwd=workdir,
        timeout=900,
        hint="check the Debian mirror is reachable (apt-get update)",
    )
    debs = sorted(set(workdir.glob(f"{package}_*.deb")) | before)
    if not debs:
        raise NotFound(f"apt-get download left no {package} .deb in {workdir}", hint="retry")
    return debs[-1]
