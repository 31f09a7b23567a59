"""banger.kernels: kernel import (.deb, tree, bzImage -> ELF), features, generated initrd."""

from banger.kernels.bzimage import extract_vmlinux
from banger.kernels.caller import Caller, CallerInputs, copy_as_caller
from banger.kernels.debian import download_debian_kernel
from banger.kernels.importer import import_kernel
from banger.kernels.initrd import build_initrd
from banger.kernels.model import KernelInfo

__all__ = [
    "Caller",
    "CallerInputs",
    "KernelInfo",
    "build_initrd",
    "copy_as_caller",
    "download_debian_kernel",
    "extract_vmlinux",
    "import_kernel",
]
