"""banger.oci: pull OCI/Docker images from registries into bootable-ready ext4 root filesystems.

Registry client, content-addressed blob cache, hardened layer replay and the ext4 build.
"""

from banger.oci.cache import cache_list, cache_prune
from banger.oci.models import BlobEntry, ImageConfig, PulledImage, ReplayLimits
from banger.oci.pull import pull_image
from banger.oci.reference import Reference, parse_reference
from banger.oci.registry import DigestMismatch
from banger.oci.replay import RejectedLayer

__all__ = [
    "BlobEntry",
    "DigestMismatch",
    "ImageConfig",
    "PulledImage",
    "Reference",
    "RejectedLayer",
    "ReplayLimits",
    "cache_list",
    "cache_prune",
    "parse_reference",
    "pull_image",
]
