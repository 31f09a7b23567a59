"""The files banger writes into a VM's root disk under /banger/ before it boots."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from banger.errors import FailedPrecondition
from banger.guest.settings import GuestSettings, render_vm_env

GUEST_DIR = "/banger"
INIT_PATH = f"{GUEST_DIR}/init"
BUSYBOX_PATH = f"{GUEST_DIR}/busybox"
# The static busybox on the host that is copied to BUSYBOX_PATH (Debian busybox-static).
HOST_BUSYBOX = Path("/bin/busybox")
VM_ENV_PATH = f"{GUEST_DIR}/vm.env"
AUTHORIZED_KEYS_PATH = f"{GUEST_DIR}/authorized_keys"
HOST_KEY_PATH = f"{GUEST_DIR}/ssh_host_ed25519_key"
HOST_KEY_PUB_PATH = f"{HOST_KEY_PATH}.pub"


@dataclass(frozen=True)
class GuestFile:
    """A regular file to place in the guest: absolute path, bytes, permission bits, owner."""

    path: str
    content: bytes
    mode: int
    uid: int = 0
    gid: int = 0


def init_script() -> bytes:
    """The /banger/init hook shipped in this package (banger/guest/files/init)."""
    return resources.files("banger.guest").joinpath("files/init").read_bytes()


def render_guest_files(settings: GuestSettings, busybox: Path) -> list[GuestFile]:
    """Everything under /banger/ for one VM. `busybox` must be a static busybox binary."""
    if not busybox.is_file():
        raise FailedPrecondition(
            f"busybox not found at {busybox}", hint="install it: apt-get install busybox-static"
        )
    keys = "".join(f"{key}\n" for key in settings.authorized_keys)
    return [
        GuestFile(BUSYBOX_PATH, busybox.read_bytes(), 0o755),
        GuestFile(INIT_PATH, init_script(), 0o755),
        GuestFile(VM_ENV_PATH, render_vm_env(settings).encode(), 0o600),
        GuestFile(AUTHORIZED_KEYS_PATH, keys.encode(), 0o600),
        GuestFile(HOST_KEY_PATH, settings.host_key_private.encode(), 0o600),
        GuestFile(HOST_KEY_PUB_PATH, (settings.host_key_public + "\n").encode(), 0o644),
    ]
