"""hostread: regular files on ordinary filesystems only, and the copy program's output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from banger.hostfiles import safeopen
from banger.hostfiles.program import child_program
from banger.kernels import hostread
from banger.kernels.hostread import HostInputError, locate_parts, mount_fstype, open_regular
from tests.unit.kernels.hostile import FAKE_VERSION, kernel_tree


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "vmlinuz"
    os.mkfifo(fifo)  # no writer: opening it for reading without O_NONBLOCK waits forever
    with pytest.raises(HostInputError, match="is a FIFO, not a regular file"):
        open_regular(str(fifo), "kernel source")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/dev/null", "a character device, not a regular file"),
        ("/", "a directory, not a regular file"),
        ("/proc/kallsyms", "is on procfs, whose contents depend on who reads them"),
        ("/proc/self/status", "is on procfs"),
        ("/sys/kernel/notes", "is on sysfs"),
    ],
)
def test_special_files_and_pseudo_filesystems_are_refused(path: str, why: str) -> None:
    with pytest.raises(HostInputError, match=why) as refused:
        open_regular(path, "initrd")
    assert refused.value.code == "invalid_argument" and refused.value.hint


def test_ordinary_files_open_and_symlinks_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = open_regular(str(tmp_path / "link"), "initrd")
    with os.fdopen(fd, "rb") as handle:
        assert handle.read() == b"data"
    with pytest.raises(HostInputError, match="does not exist") as missing:
        open_regular(str(tmp_path / "nope"), "initrd")
    assert missing.value.code == "not_found"


def test_devtmpfs_is_told_apart_from_tmpfs_by_the_mount_table() -> None:
    table = (
        "22 1 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4k\n"
        "23 22 0:21 / /dev/shm rw shared:3 - tmpfs tmpfs rw\n"
    )
    assert mount_fstype(os.makedev(0, 5), table) == "devtmpfs"
    assert mount_fstype(os.makedev(0, 21), table) == "tmpfs"
    assert mount_fstype(os.makedev(8, 1), table) is None


def test_locate_parts(tmp_path: Path) -> None:
    tree = kernel_tree(tmp_path / "t")
    (tree / f"lib/modules/{FAKE_VERSION}").mkdir(parents=True)
    parts = locate_parts(str(tree))
    assert parts.version == FAKE_VERSION
    assert parts.config == str(tree / f"boot/config-{FAKE_VERSION}")
    assert parts.modules == str(tree / f"lib/modules/{FAKE_VERSION}")
    (tree / "boot/vmlinuz-2").write_bytes(b"x")
    with pytest.raises(HostInputError, match="several kernels"):
        locate_parts(str(tree))
    with pytest.raises(HostInputError, match="no boot/vmlinuz"):
        locate_parts(str(tmp_path))


def run_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[str], dict[str, str]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir(parents=True)
    cwd, umask = os.getcwd(), os.umask(0o022)  # main() sets the child's umask: restore ours
    os.chdir(inbox)
    try:
        status = hostread.main(["--max-bytes", "100000", "--max-entries", "100", *args])
    finally:
        os.chdir(cwd)
        os.umask(umask)
    out = capsys.readouterr().out
    names = []
    if status == 0:
        with tarfile.open(inbox / hostread.OUTPUT) as tar:
            names = sorted(m.name for m in tar)
    return status, names, json.loads(out) if out else {}


def test_the_copy_program_packs_only_what_an_import_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = kernel_tree(tmp_path / "tree")
    modules = tree / f"lib/modules/{FAKE_VERSION}"
    (modules / "kernel").mkdir(parents=True)
    (modules / "kernel/a.ko").write_bytes(b"\x7fELF")
    (modules / "build").symlink_to("/usr/src/linux-headers")  # dangling: skipped
    (modules / "source").symlink_to("/")  # a directory: never walked into
    (tree / "usr/share/doc").mkdir(parents=True)  # not part of a kernel import
    (tree / "usr/share/doc/big").write_bytes(b"x" * 200_000)
    status, names, _ = run_copy(tmp_path, capsys, f"--source={tree}")
    assert status == 0
    boot = "source/boot"
    assert names == [
        f"{boot}/config-{FAKE_VERSION}",
        f"{boot}/vmlinuz-{FAKE_VERSION}",
        f"source/lib/modules/{FAKE_VERSION}",
        f"source/lib/modules/{FAKE_VERSION}/kernel",
        f"source/lib/modules/{FAKE_VERSION}/kernel/a.ko",
    ]


@pytest.mark.timeout(30)
def test_the_copy_program_reports_refusals_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100_001)
    cases = [
        (f"--initrd={fifo}", "invalid_argument", "initrd"),
        ("--initrd=/proc/kallsyms", "invalid_argument", "procfs"),
        (f"--source={tmp_path / 'missing'}", "not_found", "does not exist"),
        (f"--source={big}", "invalid_argument", "larger than a kernel import may be"),
    ]
    for index, (arg, code, words) in enumerate(cases):
        status, _, refusal = run_copy(tmp_path / str(index), capsys, arg)
        assert status == hostread.EXIT_REFUSED
        assert refusal["code"] == code and words in refusal["message"] and refusal["hint"]


def test_the_copy_program_runs_without_bangers_installation(tmp_path: Path) -> None:
    """It runs as `python -I -S -` from stdin, with safeopen shipped along as source: an
    import of anything else of banger's would fail there at once."""
    script = child_program(hostread, safeopen)
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"initrd bytes")
    argv = [sys.executable, "-I", "-S", "-", "--max-bytes", "1000", "--max-entries", "10"]
    done = subprocess.run(
        [*argv, f"--initrd={initrd}"], input=script, cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    with tarfile.open(tmp_path / hostread.OUTPUT) as tar:
        assert tar.extractfile("initrd").read() == b"initrd bytes"  # type: ignore[union-attr]
