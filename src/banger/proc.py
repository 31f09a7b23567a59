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
from collections import deque
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
    "fuse2fs": "fuse2fs",
}


# Captured output lives in the daemon's memory: past this many bytes per stream, `run` keeps
# the head (what the tool began with) and the tail (how it ended) and drops the middle.
# The largest legitimate capture here (a kernel .deb's file list) is well under 1 MiB.
MAX_CAPTURE_BYTES = 16 << 20
_READ_CHUNK = 1 << 16
# `stream` hands over lines of at most this many bytes (longer ones arrive in pieces) and
# holds at most this many lines not yet handed over.
MAX_STREAM_LINE = 1 << 16
_STREAM_QUEUE_LINES = 1024


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
    pass_fds: Sequence[int] = (),
    max_output: int = MAX_CAPTURE_BYTES,
) -> Completed:
    """Run argv to completion and capture its output.

    The first element is resolved with `which` so a missing tool is a clear error, not an
    ENOENT traceback. `env` entries are added to the current environment. `pass_fds`: the
    only fds beyond stdio the tool inherits (all others are closed). Each of stdout and
    stderr keeps at most `max_output` bytes (its head and tail, with a note saying how much
    of the middle was dropped): a tool printing gigabytes cannot exhaust our memory.
    """
    args = _resolved(argv)
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    log.debug("run: %s", " ".join(args))
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if input is not None else None,  # None: inherited, as before
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise FailedPrecondition(
            f"cannot execute {args[0]}", hint="check the tool is installed"
        ) from exc
    raw_input = input.encode() if isinstance(input, str) else input
    try:
        out, err = _communicate(proc, raw_input, timeout, max_output)
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(
            f"{Path(args[0]).name} did not finish within {timeout:g} seconds",
            hint="the host may be overloaded; retry, or look at the daemon log",
        ) from exc
    stdout, stderr = _decode(out, text), _decode(err, text)
    if proc.returncode != 0:
        log.debug("exit %d: %s: %s", proc.returncode, args[0], stderr.strip()[-500:])
        if check:
            raise CommandFailed(args, proc.returncode, stderr, hint=hint)
    return Completed(args, proc.returncode, stdout, stderr)


class _Capture:
    """One output stream kept as head + tail within `limit` bytes; the middle is counted."""

    def __init__(self, limit: int) -> None:
        self.limit, self.half = limit, max(1, limit // 2)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_bytes = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail.append(data)
        self.tail_bytes += len(data)
        # Whole chunks only (no memmove of the tail per chunk); `value` trims the rest.
        while self.tail_bytes - len(self.tail[0]) >= self.half:
            gone = self.tail.popleft()
            self.tail_bytes -= len(gone)
            self.dropped += len(gone)

    def value(self) -> bytes:
        tail = b"".join(self.tail)
        excess = max(0, len(tail) - self.half)
        dropped = self.dropped + excess
        if not dropped:
            return bytes(self.head) + tail
        note = (
            f"\n[banger: {dropped} bytes of this output were dropped here; "
            f"at most {self.limit} bytes are kept]\n"
        )
        return bytes(self.head) + note.encode() + tail[excess:]


def _drain(pipe: IO[bytes], capture: _Capture) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := pipe.read1(_READ_CHUNK):  # type: ignore[attr-defined]
            capture.add(chunk)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        pipe.write(data)
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        pipe.close()


def _communicate(
    child: subprocess.Popen[bytes], data: bytes | None, timeout: float | None, limit: int
) -> tuple[bytes, bytes]:
    """Like Popen.communicate, but each output stream is held within `limit` bytes."""
    assert child.stdout is not None and child.stderr is not None
    out, err = _Capture(limit), _Capture(limit)
    threads = [
        threading.Thread(target=_drain, args=(child.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(child.stderr, err), daemon=True),
    ]
    if data is not None:
        assert child.stdin is not None
        threads.append(threading.Thread(target=_feed, args=(child.stdin, data), daemon=True))
    for thread in threads:
        thread.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        raise
    # A grandchild may still hold the pipes (as with subprocess.run, its output counts):
    # wait for it within the same timeout.
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise subprocess.TimeoutExpired(child.args, timeout or 0.0)
    child.stdout.close()
    child.stderr.close()
    return out.value(), err.value()


def _decode(data: bytes, text: bool) -> str:
    decoded = data.decode(errors="replace")
    # text mode translated newlines like subprocess' universal newlines always did
    return decoded.replace("\r\n", "\n").replace("\r", "\n") if text else decoded


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
    # Bounded: a tool printing faster than on_line consumes blocks on its pipe instead of
    # piling its output up in our memory.
    lines: queue.Queue[str | None] = queue.Queue(maxsize=_STREAM_QUEUE_LINES)
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
    # What the tool printed before it was stopped still belongs to its story (last words);
    # the reader may be blocked on the full queue, so empty it until its end marker.
    while stopped_why:
        try:
            rest = lines.get(timeout=5)
        except queue.Empty:
            break  # a grandchild still holds the pipe open: its output is not ours to wait for
        if rest is None:
            break
        if rest:
            tail = [*tail[-19:], rest]
            on_line(rest)
    reader.join(timeout=5)
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
    # readline(limit): a "line" with no newline in gigabytes arrives in bounded pieces.
    while raw := pipe.readline(MAX_STREAM_LINE):
        lines.put(raw.decode(errors="replace").rstrip("\n"))
    lines.put(None)
