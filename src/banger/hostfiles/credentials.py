"""Who a request reads as, and the setpriv prefix that gives a child exactly those rights."""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who asked, from SO_PEERCRED: the rights the daemon reads their paths with."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def home(self) -> str:
        """Their home directory from the password database ("/" when they have none)."""
        try:
            return pwd.getpwuid(self.uid).pw_dir or "/"
        except KeyError:
            return "/"


def as_caller(caller: Caller) -> list[str]:
    """`setpriv ... --`: the caller's credentials, nothing more, no way back, and killed
    with the daemon (--pdeathsig) so it never outlives a crash. Prefix any argv with it."""
    if caller.uid == os.geteuid():
        # The caller is the daemon's own user: it runs with its own rights.
        return ["setpriv", "--pdeathsig=SIGKILL", "--"]
    groups = ",".join(str(g) for g in caller.groups)
    return [
        "setpriv",
        f"--reuid={caller.uid}",
        f"--regid={caller.gid}",
        f"--groups={groups}" if groups else "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--pdeathsig=SIGKILL",
        "--",
    ]


def child_argv(caller: Caller) -> list[str]:
    """`setpriv ... python -I -S -`: a Python child with the caller's rights reading its
    program from stdin (hostfiles/program.py), blind to banger's and the caller's paths."""
    return [*as_caller(caller), os.path.realpath(sys.executable), "-I", "-S", "-"]
