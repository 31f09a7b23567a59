"""The kernel command line that boots a VM through banger's initrd and init hook."""

from __future__ import annotations

import re

from banger.errors import InvalidArgument
from banger.guest.render import INIT_PATH

# A kernel argument is one word; quotes would change how the kernel splits the line.
ARGUMENT = re.compile(r"^[A-Za-z0-9_.,:/=+@-]+$")


def kernel_cmdline(
    *, root: str = "/dev/vda", console: str = "ttyS0", extra: list[str] | None = None
) -> str:
    """e.g. `console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 init=/banger/init`.

    `reboot=k panic=1`: a panicking guest reboots at once, which the VMM (QEMU -no-reboot,
    Firecracker) turns into an exit instead of a hung VM.
    """
    words = [
        f"console={console}",
        "reboot=k",
        "panic=1",
        f"root={root}",
        "rw",
        "rootfstype=ext4",
        f"init={INIT_PATH}",
        *(extra or []),
    ]
    for word in words:
        if not ARGUMENT.fullmatch(word):
            raise InvalidArgument(
                f"kernel argument {word[:60]!r} contains unsafe characters",
                hint="use letters, digits and _.,:/=+@- only",
            )
    return " ".join(words)
