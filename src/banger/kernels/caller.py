"""Copy the host paths a caller handed in, reading them AS THE CALLER, into private staging.

bangerd is root and must never open a caller's path with its own rights: a permission
check followed by a root open loses to any symlink swapped in between (or checked not at
all). Instead a short-lived child runs with the caller's uid, gid and groups, no
capabilities and no_new_privs (setpriv), and packs what it could read into a tar in an
inbox only it and the daemon can reach. The daemon unpacks that tar with the same
hardened extractor it uses for packages, into its own 0700 staging; from then on the
import reads nothing but that private copy.

The child's script is kernels/hostread.py (with hostfiles/safeopen.py, shipped as source
by hostfiles/program.py), fed on stdin to the base interpreter with -I -S, so it needs no
access to banger's installation. Caller and child_argv live in hostfiles/credentials.py,
shared with hostfiles/receive.py (image files, build copies, docker configs).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from banger import proc
from banger.errors import Unavailable
from banger.hostfiles import safeopen
from banger.hostfiles.credentials import Caller, child_argv
from banger.hostfiles.program import child_program
from banger.kernels import hostread, safetar
from banger.kernels.private import banger_error, make_private_dir
from banger.ops.reporter import Reporter

__all__ = ["COPY_TIMEOUT", "Caller", "CallerInputs", "child_argv", "copy_as_caller"]

COPY_TIMEOUT = 900.0
_TAR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class CallerInputs:
    """Private, root-owned copies of what the caller handed in."""

    source: Path
    modules_dir: Path | None
    initrd: Path | None


def _run_child(caller: Caller, inbox: Path, paths: dict[str, Path | None]) -> None:
    limits = safetar.Limits()
    argv = [
        *child_argv(caller),
        *("--max-bytes", str(limits.max_bytes), "--max-entries", str(limits.max_entries)),
    ]
    for flag, path in paths.items():
        if path is not None:
            argv.append(f"--{flag}={path}")
    script = child_program(hostread, safeopen)
    # cwd is entered before setpriv drops root: the child reaches its inbox, nothing else.
    result = proc.run(argv, input=script, text=False, cwd=inbox, timeout=COPY_TIMEOUT, check=False)
    if result.returncode == hostread.EXIT_REFUSED:
        try:
            refusal = json.loads(result.stdout)
            error = banger_error(refusal["code"], refusal["message"], refusal["hint"])
        except (ValueError, KeyError, TypeError):
            error = Unavailable(
                f"reading the kernel inputs as uid {caller.uid} failed", hint="retry the import"
            )
        raise error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(
            f"reading the kernel inputs as uid {caller.uid} failed: {last}",
            hint="look at the daemon log; setpriv (util-linux) must be installed",
        )


def _open_inbox_tar(inbox: Path, caller: Caller) -> int:
    """The child's tar: a regular file it created, not a link, FIFO or someone else's file."""
    directory = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(hostread.OUTPUT, _TAR_FLAGS, dir_fd=directory)
    finally:
        os.close(directory)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != caller.uid or st.st_nlink != 1:
        os.close(fd)
        raise Unavailable(
            f"the copy made as uid {caller.uid} was tampered with", hint="retry the import"
        )
    return fd


def copy_as_caller(
    caller: Caller,
    *,
    source: Path,
    modules_dir: Path | None,
    initrd: Path | None,
    into: Path,
    reporter: Reporter,
) -> CallerInputs:
    """Copy source (file or tree), modules_dir and initrd into new dir `into` as `caller`."""
    make_private_dir(into)
    inbox = into / "inbox"
    make_private_dir(inbox)
    os.chown(inbox, caller.uid, caller.gid)
    try:
        _run_child(caller, inbox, {"source": source, "modules": modules_dir, "initrd": initrd})
        reporter.check_cancelled()
        with os.fdopen(_open_inbox_tar(inbox, caller), "rb") as tarball:
            safetar.extract(tarball, into / "input", what="the copied inputs", reporter=reporter)
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
    copied = into / "input"
    return CallerInputs(
        source=copied / "source",
        modules_dir=copied / "modules" if modules_dir is not None else None,
        initrd=copied / "initrd" if initrd is not None else None,
    )
