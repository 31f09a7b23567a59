"""The build disk of `image build`: each step as a script, copied files, env, a runner.

The daemon attaches this small ext4 to the builder VM as its second virtio drive.
/banger/init, in build mode, mounts it read-only on /run/banger-build and runs
`run.sh` there, which executes the steps in order as root and frames everything it
prints on the serial console with a per-build nonce (see build_console.py):

    @@banger-build NONCE begin 2
    @@banger-build NONCE out 2 <one line of the step's stdout/stderr>
    @@banger-build NONCE exit 2 0
    @@banger-build NONCE done ok        (or: done failed)

Every line a step prints is prefixed, so a step's output can never start a marker line;
the random nonce keeps other writers of the console (the kernel, stray daemons, steps
writing to /dev/console directly) from imitating one by accident.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from banger.disks import ext4
from banger.errors import InvalidArgument

GUEST_MOUNT = "/run/banger-build"
GUEST_BUSYBOX = "/banger/busybox"
MARKER = "@@banger-build"
DISK_LABEL = "banger-build"
# Defaults a provisioning step expects; the build's own env overrides them.
DEFAULT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
_DISK_FREE_BYTES = 4 * 2**20

StepKind = Literal["run", "script", "copy"]
# Copies a copy step's host source (file or directory) to a new path in the build tree.
Fetch = Callable[[Path, Path], None]


@dataclass(frozen=True)
class DiskStep:
    """One step as the build disk needs it (the daemon converts API steps to these)."""

    kind: StepKind
    text: str = ""  # run: the command line; script: the script's content
    name: str | None = None  # script: its file name, for the summary
    src: Path | None = None  # copy: host path (file or directory)
    dst: str | None = None  # copy: absolute guest path; a trailing / means "into"


def sh_quote(value: str) -> str:
    """Quote for POSIX sh: one single-quoted word, whatever the value holds."""
    return "'" + value.replace("'", "'\\''") + "'"


def summarize(step: DiskStep) -> str:
    """One line describing a step, for provenance and progress (never the whole script)."""
    if step.kind == "run":
        first = step.text.strip().splitlines()[0] if step.text.strip() else ""
        more = " ..." if len(step.text.strip().splitlines()) > 1 or len(first) > 200 else ""
        return f"run: {first[:200]}{more}"
    if step.kind == "script":
        digest = hashlib.sha256(step.text.encode()).hexdigest()[:16]
        return f"script: {step.name or 'inline'} (sha256:{digest})"
    return f"copy: {step.src} -> {step.dst}"


def render_env(env: dict[str, str]) -> str:
    merged = {**DEFAULT_ENV, **env}
    return "".join(f"export {key}={sh_quote(value)}\n" for key, value in sorted(merged.items()))


def render_copy_script(
    index: int,
    dst: str,
    source_name: str,
    is_dir: bool,
    *,
    mount: str = GUEST_MOUNT,
    busybox: str = GUEST_BUSYBOX,
) -> str:
    """The guest side of a copy step: busybox cp -a keeps modes, owners and symlinks."""
    guest_dst = PurePosixPath(dst)
    if not guest_dst.is_absolute() or ".." in guest_dst.parts:
        raise InvalidArgument(
            f"copy destination {dst!r} must be an absolute guest path without '..'",
            hint="write it like SRC:/etc/app/config.toml",
        )
    src = f"{mount}/files/{index}/{source_name}"
    bb = sh_quote(busybox)
    if is_dir:  # like Docker's COPY: a directory's contents go into dst
        target = str(guest_dst)
        return (
            f"{bb} mkdir -p {sh_quote(target)}\n{bb} cp -a {sh_quote(src)}/. {sh_quote(target)}/\n"
        )
    target = str(guest_dst / source_name) if dst.endswith("/") else str(guest_dst)
    parent = str(PurePosixPath(target).parent)
    return f"{bb} mkdir -p {sh_quote(parent)}\n{bb} cp -a {sh_quote(src)} {sh_quote(target)}\n"


def render_runner(
    nonce: str, count: int, *, mount: str = GUEST_MOUNT, busybox: str = GUEST_BUSYBOX
) -> str:
    """run.sh: run steps 1..count in order, frame their output, stop at the first failure."""
    return f"""# banger build runner, started by /banger/init in build mode (docs/image-build.md)
BB={sh_quote(busybox)}
D={sh_quote(mount)}
M={sh_quote(f"{MARKER} {nonce}")}
STATUS=${{BANGER_BUILD_STATUS:-/run/banger-build-status}}
. "$D/env"
cd /
n=1
while [ "$n" -le {count} ]; do
    step="$D/steps/$n"
    echo "$M begin $n"
    if [ "$($BB head -c 2 "$step")" = '#!' ]; then
        set -- "$step"
    elif [ -x /bin/sh ]; then
        set -- /bin/sh -e "$step"
    else
        set -- "$BB" sh -e "$step"
    fi
    echo 255 >"$STATUS"
    {{ "$@" </dev/null 2>&1; echo "$?" >"$STATUS"; }} |
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s out %s %s\\n' "$M" "$n" "$line"
    done
    code=$($BB cat "$STATUS")
    echo "$M exit $n $code"
    if [ "$code" != 0 ]; then
        echo "$M done failed"
        exit 1
    fi
    n=$((n + 1))
done
$BB sync
echo "$M done ok"
"""


def stage_tree(
    tree: Path,
    steps: list[DiskStep],
    env: dict[str, str],
    nonce: str,
    fetch: Fetch,
    *,
    mount: str = GUEST_MOUNT,
    busybox: str = GUEST_BUSYBOX,
) -> None:
    """Write the build disk's content into the empty directory `tree`.

    Copy sources are brought in by `fetch` (the daemon reads them as whoever asked for
    the build, never with its own rights). Files are written by the daemon (root), so
    everything on the disk is owned by root; copy sources keep their permission bits.
    """
    (tree / "steps").mkdir(parents=True)
    (tree / "files").mkdir()
    for index, step in enumerate(steps, start=1):
        script = tree / "steps" / str(index)
        if step.kind in ("run", "script"):
            script.write_text(step.text if step.text.endswith("\n") else step.text + "\n")
            script.chmod(0o755)
            continue
        src, dst = step.src, step.dst
        if src is None or dst is None or not src.name:
            raise InvalidArgument(f"copy step {index} lacks a source or destination")
        holder = tree / "files" / str(index)
        holder.mkdir()
        fetch(src, holder / src.name)
        is_dir = (holder / src.name).is_dir() and not (holder / src.name).is_symlink()
        copy = render_copy_script(index, dst, src.name, is_dir, mount=mount, busybox=busybox)
        script.write_text(copy)
        script.chmod(0o644)
    (tree / "env").write_text(render_env(env))
    (tree / "run.sh").write_text(render_runner(nonce, len(steps), mount=mount, busybox=busybox))


def make_build_disk(
    out: Path, workdir: Path, steps: list[DiskStep], env: dict[str, str], nonce: str, fetch: Fetch
) -> None:
    """Stage the tree under `workdir` and build `out` from it (workdir is removed)."""
    tree = workdir / "build-tree"
    try:
        stage_tree(tree, steps, env, nonce, fetch)
        ext4.make_ext4(tree, out, free_bytes=_DISK_FREE_BYTES, label=DISK_LABEL)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
