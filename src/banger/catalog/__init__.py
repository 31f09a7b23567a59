"""banger.catalog: kernels as OCI artifacts in any registry (docs/kernel-catalog.md).

`publish_kernel` pushes an imported kernel; `pull_kernel` fetches a catalog artifact, or
an ignite/flintlock-style kernel container image, and imports it.
"""

from banger.catalog.format import ARTIFACT_TYPE, CONFIG_TYPE, KernelSource
from banger.catalog.publish import Published, publish_kernel
from banger.catalog.pull import PulledKernel, pull_kernel, resolve_kernel_ref

__all__ = [
    "ARTIFACT_TYPE",
    "CONFIG_TYPE",
    "KernelSource",
    "Published",
    "PulledKernel",
    "publish_kernel",
    "pull_kernel",
    "resolve_kernel_ref",
]
