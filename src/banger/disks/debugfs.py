"""Write files into an ext4 image without mounting it, with debugfs (e2fsprogs).

Why debugfs: no loop device, no mount, no root-only kernel state to clean up, and it is
fast. Its drawback is that it exits 0 after most failed commands, so we inspect first
(read-only pass) and then treat any complaint on stderr during the write pass as failure.
"""

from __future__ import annotations

import re
import stat as statmod
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from banger import proc
from banger.errors import CommandFailed, InvalidArgument, NotFound

# debugfs splits its commands on whitespace and has its own quoting rules; we only ever
# hand it paths made of these characters so no quoting is needed at all.
SAFE_GUEST_PATH = re.compile(r"^/[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*$")
BANNER = re.compile(r"^debugfs \S+ \(.*\)$")
NOT_FOUND = re.compile(r"^(?P<path>/\S*): File not found by ext2_lookup\s*$")
STAT_LINE = re.compile(r"Type:\s+(?P<type>\S+)\s+Mode:\s+(?P<mode>[0-7]+)")
OWNER_LINE = re.compile(r"User:\s+(?P<uid>\d+)\s+Group:\s+(?P<gid>\d+).*Size:\s+(?P<size>\d+)")
# What read_file takes from an image unless the caller names a smaller bound: the files
# banger reads back are settings and ids of a few bytes, never payloads.
READ_LIMIT = 1 << 20


class FileToWrite(Protocol):
    """What write_files needs of a file (banger.guest.GuestFile fits)."""

    path: str
    content: bytes
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class InodeStat:
    type: str  # "regular", "directory", "symlink", ...
    mode: int  # permission bits only, e.g. 0o600
    uid: int
    gid: int
    size: int


def _check_path(path: str) -> PurePosixPath:
    if not SAFE_GUEST_PATH.fullmatch(path) or any(p in (".", "..") for p in path.split("/")):
        raise InvalidArgument(
            f"guest path {path!r} is not a plain absolute path",
            hint="use only letters, digits and ._+@- in guest paths",
        )
    return PurePosixPath(path)


def _run(image: Path, script: Path, *, write: bool) -> proc.Completed:
    argv: list[str | Path] = ["debugfs", *(["-w"] if write else []), "-f", script, image]
    return proc.run(argv, hint=f"check {image} is an ext4 image that is not in use")


def _debugfs(image: Path, commands: list[str], *, write: bool) -> proc.Completed:
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs", delete=True) as cmdfile:
        cmdfile.write("\n".join(commands) + "\n")
        cmdfile.flush()
        return _run(image, Path(cmdfile.name), write=write)


def run_script(image: Path, script: Path, *, hint: str) -> None:
    """Apply the debugfs command file `script` to `image`; any complaint is a failure.

    For batches too big to hold as a list (an OCI image's metadata fix-ups).
    """
    _fail_on_complaints(_run(image, script, write=True), image, hint)


def _fail_on_complaints(result: proc.Completed, image: Path, hint: str) -> None:
    errors, _ = _complaints(result.stderr, allow_not_found=False)
    if errors:
        raise CommandFailed(["debugfs", "-w", str(image)], 0, "\n".join(errors), hint=hint)


def _complaints(stderr: str, *, allow_not_found: bool) -> tuple[list[str], set[str]]:
    """Split debugfs stderr into (unexpected error lines, paths reported missing)."""
    errors: list[str] = []
    missing: set[str] = set()
    for line in stderr.splitlines():
        line = line.strip()
        if not line or BANNER.match(line):
            continue
        found = NOT_FOUND.match(line)
        if found and allow_not_found:
            missing.add(found.group("path"))
        else:
            errors.append(line)
    return errors, missing


def _missing_paths(image: Path, paths: list[str]) -> set[str]:
    result = _debugfs(image, [f"stat {p}" for p in paths], write=False)
    errors, missing = _complaints(result.stderr, allow_not_found=True)
    if errors:
        raise CommandFailed(
            ["debugfs", "-f", "-", str(image)], 0, "\n".join(errors), hint="is it an ext4 image?"
        )
    return missing


def write_files(image: Path, files: Sequence[FileToWrite]) -> None:
    """Create or replace `files` in `image` in one debugfs batch, creating parent dirs.

    New directories are made 0755 root:root; each file gets exactly its mode/uid/gid.
    """
    if not image.is_file():
        raise NotFound(f"disk image {image} does not exist", hint="check the path")
    targets = [_check_path(f.path) for f in files]
    dirs = sorted(
        {str(parent) for t in targets for parent in t.parents if str(parent) != "/"},
        key=lambda d: (d.count("/"), d),
    )
    missing = _missing_paths(image, dirs + [str(t) for t in targets])
    with tempfile.TemporaryDirectory(prefix="banger-debugfs-") as tmp:
        commands: list[str] = []
        for directory in dirs:
            if directory in missing:
                path = PurePosixPath(directory)
                commands += [
                    f"cd {path.parent}",
                    f"mkdir {path.name}",
                    f"set_inode_field {path.name} mode 0{statmod.S_IFDIR | 0o755:o}",
                    f"set_inode_field {path.name} uid 0",
                    f"set_inode_field {path.name} gid 0",
                ]
        for index, (file, target) in enumerate(zip(files, targets, strict=True)):
            host_copy = Path(tmp) / f"f{index}"
            host_copy.write_bytes(file.content)
            # debugfs' mknod/write with a full path misplace entries: cd to the parent.
            commands.append(f"cd {target.parent}")
            if str(target) not in missing:
                commands.append(f"rm {target.name}")
            commands += [
                f"write {host_copy} {target.name}",
                f"set_inode_field {target.name} mode 0{statmod.S_IFREG | (file.mode & 0o7777):o}",
                f"set_inode_field {target.name} uid {file.uid}",
                f"set_inode_field {target.name} gid {file.gid}",
            ]
        result = _debugfs(image, commands, write=True)
    _fail_on_complaints(
        result,
        image,
        hint="the image may be full, read-only, or hold a directory where a file should go",
    )


def read_file(image: Path, path: str, *, max_bytes: int = READ_LIMIT) -> bytes:
    """The contents of `path` inside `image` (debugfs dump), refused above `max_bytes`.

    The image is untrusted: a sparse guest file may claim terabytes in a few blocks, so
    its inode size is checked *before* anything is dumped to the host, and the dump is read
    with the same bound.
    """
    target = _check_path(path)
    info = stat(image, path)
    if info.type != "regular":
        raise InvalidArgument(
            f"{path} in {image.name} is a {info.type}, not a regular file",
            hint="the image holds something unexpected at that path; fix or rebuild it",
        )
    if info.size > max_bytes:
        raise InvalidArgument(
            f"{path} in {image.name} is {info.size} bytes, above the {max_bytes}-byte limit "
            "banger reads from an image",
            hint=f"the image's {path} is not what it should be; fix or rebuild the image",
        )
    with tempfile.TemporaryDirectory(prefix="banger-debugfs-") as tmp:
        out = Path(tmp) / "dump"
        result = _debugfs(image, [f"dump {target} {out}"], write=False)
        errors, missing = _complaints(result.stderr, allow_not_found=True)
        if missing:
            raise NotFound(f"{path} does not exist in {image}", hint="check the guest path")
        if errors or not out.exists():
            raise CommandFailed(["debugfs", "dump", path], 0, "\n".join(errors))
        with out.open("rb") as dumped:
            content = dumped.read(max_bytes + 1)
        if len(content) > max_bytes:  # the image changed under us: still never read more
            raise InvalidArgument(
                f"{path} in {image.name} grew past the {max_bytes}-byte limit while being read",
                hint="nothing may write to an image while banger reads it",
            )
        return content


def stat(image: Path, path: str) -> InodeStat:
    """Type, permission bits, owner and size of `path` inside `image`."""
    target = _check_path(path)
    result = _debugfs(image, [f"stat {target}"], write=False)
    errors, missing = _complaints(result.stderr, allow_not_found=True)
    if missing:
        raise NotFound(f"{path} does not exist in {image}", hint="check the guest path")
    kind = STAT_LINE.search(result.stdout)
    owner = OWNER_LINE.search(result.stdout)
    if errors or kind is None or owner is None:
        raise CommandFailed(["debugfs", "stat", path], 0, "\n".join(errors) or result.stdout[:200])
    return InodeStat(
        type=kind.group("type"),
        mode=int(kind.group("mode"), 8),
        uid=int(owner.group("uid")),
        gid=int(owner.group("gid")),
        size=int(owner.group("size")),
    )
