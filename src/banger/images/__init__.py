"""banger.images: boot sets (validation, atomic promotion) and the Debian default image."""

from banger.images.bootset import (
    promote,
    validate_initrd,
    validate_kernel_file,
    validate_modules_dir,
    validate_rootfs,
)
from banger.images.bootstrap import BOOTSTRAP_VERSION, BootstrapResult, bootstrap_debian

__all__ = [
    "BOOTSTRAP_VERSION",
    "BootstrapResult",
    "bootstrap_debian",
    "promote",
    "validate_initrd",
    "validate_kernel_file",
    "validate_modules_dir",
    "validate_rootfs",
]
