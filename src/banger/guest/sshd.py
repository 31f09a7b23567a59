"""What "the image has an ssh server" means, for `image pull` and `image build` alike.

banger's guest contract is OpenSSH's: the init hook installs the pinned host key as
/etc/ssh/ssh_host_ed25519_key (OpenSSH's path and key format) and starts /usr/sbin/sshd
when the image has no init of its own, and the client insists on exactly that key. An
image whose only server is dropbear would present a host key banger never pinned, so
`vm create --wait` and `image build --via ssh` could never log in: dropbear does not count.
"""

from __future__ import annotations

from collections.abc import Callable

# Where OpenSSH's sshd lives (Debian/Ubuntu, Fedora/Alpine, and pre-usrmerge layouts).
SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd")
# A regular file, or a symlink to one (busybox-style multi-call layouts).
_SERVER_TYPES = ("regular", "symlink")


def has_sshd(file_type: Callable[[str], str | None]) -> bool:
    """True if an OpenSSH sshd is at one of SSHD_PATHS.

    `file_type(path)` reads the image however the caller can: it returns debugfs' type
    name ("regular", "symlink", "directory", ...) of the absolute path, or None if absent.
    """
    return any(file_type(path) in _SERVER_TYPES for path in SSHD_PATHS)
