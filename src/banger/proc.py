"""The one place banger runs external tools: logged, checked, never through a shell.

Every argv element is passed as-is to exec, so user input can never be interpreted by a
shell. A non-zero exit raises CommandFailed (unless check=False); a missing tool raises
FailedPrecondition naming the Debian package that provides it. `run` captures output,
`stream` hands it over line by line, `run_attached` gives the tool the caller's terminal
and `exec_replace` turns the calling process into the tool (the CLI's `vm ssh`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from banger.errors import Cancelled, CommandFailed, FailedPrecondition, Unavailable

log = logging.getLogger("banger.proc")

# Which Debian package provides each tool we shell out to, for actionable hints.
DEBIAN_PACKAGE = {
    "ip": "iproute2",
    "nft": "nftables",
    "mke2fs": "e2fsprogs",
    "mkfs.ext4": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "resize2fs": "e2fsprogs",
    "tune2fs": "e2fsprogs",
    "dumpe2fs": "e2fsprogs",
    "fakeroot": "fakeroot",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mmdebstrap": "mmdebstrap",
    "busybox": "busybox-static",
    "losetup": "mount",
    "mount": "mount",
    "umount": "mount",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ssh-keygen": "openssh-client",
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "tar": "tar",
    "cpio": "cpio",
    "mkfs.btrfs": "btrfs-progs",
    "mkfs.xfs": "xfsprogs",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "docker-registry": "docker-registry",
}


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def which(tool: str) -> str:
    """Resolve a tool on PATH (plus the sbin dirs non-root PATHs often lack) or explain the fix."""
    search = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(tool, path=search)
    if found is None:
        package = DEBIAN_PACKAGE.get(tool)
        hint = f"install it: apt-get install {package}" if package else f"install {tool}"
        raise FailedPrecondition(f"required tool '{tool}' was not found on PATH", hint=hint)
    return found


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    text: bool = True,
    hint: str | None = None,
) -> Completed:
    """Run argv to completion and capture its output.

    The first element is resolved with `which` so a missing tool is a clear error, not an
    ENOENT traceback. `env` entries are added to the current environment.
    """
    args = _resolved(argv)
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    log.debug("run: %s", " ".join(args))
    try:
        proc = subprocess.run(
            args,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            text=text,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(
            f"{Path(args[0]).name} did not finish within {timeout:g} seconds",
            hint="the host may be overloaded; retry, or look at the daemon log",
        ) from exc
    except FileNotFoundError as exc:
        raise FailedPrecondition(
            f"cannot execute {args[0]}", hint="check the tool is installed"
        ) from exc
    stdout = proc.stdout if text else proc.stdout.decode(errors="replace")
    stderr = proc.stderr if text else proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        log.debug("exit %d: %s: %s", proc.returncode, args[0], stderr.strip()[-500:])
        if check:
            raise CommandFailed(args, proc.returncode, stderr, hint=hint)
    return Completed(args, proc.returncode, stdout, stderr)


def run_attached(argv: Sequence[str | os.PathLike[str]]) -> int:
    """Run argv on the caller's stdin, stdout and stderr; return its exit code.

    For tools the user drives from the CLI (`vm exec`, `vm cp`): their exit code is the
    answer the caller passes on, so a non-zero one is not raised.
    """
    args = _resolved(argv)
    log.debug("run attached: %s", " ".join(args))
    try:
        return subprocess.run(args, check=False).returncode
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot execute {args[0]}: {exc.strerror}", hint="check the tool is installed"
        ) from exc


def exec_replace(argv: Sequence[str | os.PathLike[str]]) -> NoReturn:
    """Replace the calling process with argv (e.g. an interactive ssh session)."""
    args = _resolved(argv)
    log.debug("exec: %s", " ".join(args))
    try:
        os.execv(args[0], args)
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot execute {args[0]}: {exc.strerror}", hint="check the tool is installed"
        ) from exc


def _resolved(argv: Sequence[str | os.PathLike[str]]) -> list[str]:
    """argv as strings, its tool resolved with `which` (a missing tool is a clear error)."""
    args = [os.fspath(a) for a in argv]
    if not args:
        raise ValueError("empty argv")
    if "/" not in args[0]:
        args[0] = which(args[0])
    return args


def stream(
    argv: Sequence[str | os.PathLike[str]],
    on_line: Callable[[str], None],
    *,
    timeout: float,
    cancelled: Callable[[], bool] = lambda: False,
    until: Callable[[str], bool] | None = None,
    hint: str | None = None,
) -> None:
    """Run argv, handing each line of its merged output to `on_line` as it appears.

    For long tools (mmdebstrap, ...) whose progress a user should see live. Cancellation
    and the timeout kill the tool's whole process group, so no grandchild is left running.
    `until`: a line for which it returns True ends the run early, as a success (the tool
    is killed); e.g. a probe VM that has shown what it had to show.
    """
    args = _resolved(argv)
    log.debug("stream: %s", " ".join(args))
    child = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert child.stdout is not None
    tail: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    stopped_why: str | None = None
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            tail = [*tail[-19:], line]
            on_line(line)
            if until is not None and until(line):
                stopped_why = "done"
        if stopped_why is None and cancelled():
            stopped_why = "cancelled"
        elif stopped_why is None and time.monotonic() > deadline:
            stopped_why = "timeout"
        if stopped_why:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            break
    returncode = child.wait()
    reader.join(timeout=5)
    # What the tool printed before it was stopped still belongs to its story (last words).
    while stopped_why and not lines.empty():
        rest = lines.get_nowait()
        if rest:
            tail = [*tail[-19:], rest]
            on_line(rest)
    if stopped_why == "done":
        return
    if stopped_why == "cancelled":
        raise Cancelled(f"{Path(args[0]).name} was cancelled")
    if stopped_why == "timeout":
        raise Unavailable(
            f"{Path(args[0]).name} did not finish within {timeout:g} seconds",
            hint=hint or "the host may be overloaded; retry",
        )
    if returncode != 0:
        raise CommandFailed(args, returncode, "\n".join(tail), hint=hint)


def _pump(pipe: IO[bytes], lines: queue.Queue[str | None]) -> None:
    for raw in pipe:
        lines.put(raw.decode(errors="replace").rstrip("\n"))
    lines.put(None)
