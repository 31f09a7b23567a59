"""banger.hostfiles: host paths a caller hands in, opened AS THE CALLER at the moment of use.

`receive.read_as_caller` runs a child with the caller's credentials that opens the paths
and passes the open fds back (SCM_RIGHTS); `tree.copy_in` copies a file or directory read
that way into daemon-owned storage; `safeopen` is what is refused (special files, pseudo-
filesystems), shared with the kernel import's reader.
"""

from banger.hostfiles.credentials import Caller, as_caller, child_argv
from banger.hostfiles.receive import Entry, Limits, Wanted, open_files, read_as_caller, read_small
from banger.hostfiles.tree import copy_in, fetcher

__all__ = [
    "Caller",
    "Entry",
    "Limits",
    "Wanted",
    "as_caller",
    "child_argv",
    "copy_in",
    "fetcher",
    "open_files",
    "read_as_caller",
    "read_small",
]
