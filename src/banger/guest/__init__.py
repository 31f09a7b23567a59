"""banger.guest: the guest contract, i.e. the /banger/ files written into each VM's disk."""

from banger.guest.cmdline import kernel_cmdline
from banger.guest.hostkeys import generate_host_keypair
from banger.guest.render import GuestFile, init_script, render_guest_files
from banger.guest.settings import GuestSettings, render_vm_env

__all__ = [
    "GuestFile",
    "GuestSettings",
    "generate_host_keypair",
    "init_script",
    "kernel_cmdline",
    "render_guest_files",
    "render_vm_env",
]
