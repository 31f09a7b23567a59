"""Boot-set validation (one-line errors naming the path) and atomic promotion."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from banger import proc
from banger.errors import (
    BangerError,
    Cancelled,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from banger.images.bootset import (
    promote,
    validate_initrd,
    validate_kernel_file,
    validate_modules_dir,
    validate_rootfs,
)
from banger.ops.reporter import NullReporter

MIB = 1024 * 1024


def _assert_one_line_naming(err: BangerError, path: Path, problem: str) -> None:
    assert "\n" not in err.message
    assert str(path) in err.message
    assert problem in err.message
    assert err.hint


@pytest.mark.parametrize(
    "validate", [validate_rootfs, validate_kernel_file, validate_initrd, validate_modules_dir]
)
def test_missing_paths_are_named(tmp_path: Path, validate) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(NotFound) as err:
        validate(missing)
    _assert_one_line_naming(err.value, missing, "does not exist")


@pytest.mark.parametrize("validate", [validate_rootfs, validate_kernel_file, validate_initrd])
def test_directories_are_not_files(tmp_path: Path, validate) -> None:
    with pytest.raises(FailedPrecondition) as err:
        validate(tmp_path)
    _assert_one_line_naming(err.value, tmp_path, "not a regular file")


def test_rootfs_must_be_ext4(tmp_path: Path) -> None:
    ext2 = tmp_path / "root.ext2"
    proc.run(["mke2fs", "-q", "-F", "-t", "ext2", ext2, "8M"])
    with pytest.raises(FailedPrecondition) as err:
        validate_rootfs(ext2)
    _assert_one_line_naming(err.value, ext2, "not an ext4 filesystem")
    ext4 = tmp_path / "root.ext4"
    proc.run(["mke2fs", "-q", "-F", "-t", "ext4", ext4, "8M"])
    validate_rootfs(ext4)


def test_kernel_formats(tmp_path: Path) -> None:
    elf = tmp_path / "vmlinux"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 100)
    assert validate_kernel_file(elf) == "elf"
    bz = tmp_path / "bzImage"
    header = bytearray(0x300)
    header[0x1FE:0x200] = b"\x55\xaa"
    header[0x202:0x206] = b"HdrS"
    bz.write_bytes(bytes(header))
    assert validate_kernel_file(bz) == "bzimage"
    text = tmp_path / "notes.txt"
    text.write_text("this is not a kernel\n" * 50)
    with pytest.raises(FailedPrecondition) as err:
        validate_kernel_file(text)
    _assert_one_line_naming(err.value, text, "wrong format")


def test_initrd_formats(tmp_path: Path) -> None:
    payload_dir = tmp_path / "payload"
    payload_dir.mkdir()
    (payload_dir / "init").write_text("#!/bin/sh\n")
    raw = tmp_path / "raw.cpio"
    proc.run(["cpio", "-o", "-H", "newc", "-F", raw], input="init\n", cwd=payload_dir)
    archive = raw.read_bytes()
    assert validate_initrd(raw) == "cpio"
    for name, data, kind in [
        ("i.gz", gzip.compress(archive), "gzip"),
        ("i.zst", zstandard.ZstdCompressor().compress(archive), "zstd"),
        ("i.xz", lzma.compress(archive), "xz"),
        ("i.lz4", lz4.frame.compress(archive), "lz4"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        assert validate_initrd(path) == kind
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"PK\x03\x04 zip is not an initrd")
    with pytest.raises(FailedPrecondition) as err:
        validate_initrd(junk)
    _assert_one_line_naming(err.value, junk, "wrong format")


def test_modules_dir_layouts(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "modules.dep").write_text("")
    assert validate_modules_dir(flat) == flat
    versioned = tmp_path / "versioned"
    (versioned / "6.1.0-1-cloud-amd64").mkdir(parents=True)
    (versioned / "6.1.0-1-cloud-amd64" / "modules.dep").write_text("")
    assert validate_modules_dir(versioned) == versioned / "6.1.0-1-cloud-amd64"
    unpacked = tmp_path / "deb"
    (unpacked / "lib/modules/6.1.0-2").mkdir(parents=True)
    (unpacked / "lib/modules/6.1.0-2/modules.dep").write_text("")
    assert validate_modules_dir(unpacked) == unpacked / "lib/modules/6.1.0-2"
    (versioned / "6.1.0-9").mkdir()
    (versioned / "6.1.0-9" / "modules.dep").write_text("")
    with pytest.raises(FailedPrecondition) as err:
        validate_modules_dir(versioned)
    _assert_one_line_naming(err.value, versioned, "several kernel versions")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FailedPrecondition) as err:
        validate_modules_dir(empty)
    _assert_one_line_naming(err.value, empty, "no modules.dep")
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(FailedPrecondition) as err:
        validate_modules_dir(a_file)
    _assert_one_line_naming(err.value, a_file, "not a directory")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    sparse = src / "rootfs.ext4"
    with open(sparse, "wb") as f:
        f.write(b"head")
        f.seek(64 * MIB)
        f.write(b"tail")
    kernel = src / "vmlinux"
    kernel.write_bytes(os.urandom(3 * MIB + 17))
    return {"rootfs.ext4": sparse, "vmlinux": kernel}


def test_promote_copies_verifies_and_keeps_holes(tmp_path: Path) -> None:
    files = _sources(tmp_path)
    before = {name: (_sha(p), p.stat().st_mtime_ns) for name, p in files.items()}
    dest = tmp_path / "images" / "img-1"
    reporter = NullReporter()
    promoted = promote(files, dest, reporter)
    assert promoted == {name: dest / name for name in files}
    for name, src in files.items():
        assert _sha(promoted[name]) == before[name][0]
        assert (_sha(src), src.stat().st_mtime_ns) == before[name]  # source untouched
    copy = promoted["rootfs.ext4"]
    assert copy.stat().st_size == 64 * MIB + 4
    assert copy.stat().st_blocks * 512 < 1 * MIB  # the 64 MiB hole stayed a hole
    assert sorted(p.name for p in dest.parent.iterdir()) == ["img-1"]
    assert oct(dest.stat().st_mode & 0o777) == "0o755"


class CancelAfter(NullReporter):
    def __init__(self, checks: int) -> None:
        super().__init__()
        self.remaining = checks

    def check_cancelled(self) -> None:
        self.remaining -= 1
        if self.remaining < 0:
            raise Cancelled("operation was cancelled", hint="start it again")


@pytest.mark.parametrize("checks", [1, 2])
def test_promote_cancelled_midway_leaves_nothing(tmp_path: Path, checks: int) -> None:
    files = _sources(tmp_path)
    shas = {name: _sha(p) for name, p in files.items()}
    parent = tmp_path / "images"
    parent.mkdir()
    with pytest.raises(Cancelled):
        promote(files, parent / "img-1", CancelAfter(checks))
    assert list(parent.iterdir()) == []
    assert {name: _sha(p) for name, p in files.items()} == shas


def test_promote_refuses_existing_destination(tmp_path: Path) -> None:
    files = _sources(tmp_path)
    dest = tmp_path / "img"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(Conflict, match="already exists"):
        promote(files, dest, NullReporter())
    assert [p.name for p in dest.iterdir()] == ["keep"]


def test_promote_rejects_bad_names_and_missing_sources(tmp_path: Path) -> None:
    files = _sources(tmp_path)
    parent = tmp_path / "images"
    parent.mkdir()
    with pytest.raises(InvalidArgument, match="not a plain file name"):
        promote({"../escape": files["vmlinux"]}, parent / "a", NullReporter())
    missing = tmp_path / "src" / "initrd.img"
    with pytest.raises(NotFound) as err:
        promote({**files, "initrd.img": missing}, parent / "b", NullReporter())
    _assert_one_line_naming(err.value, missing, "does not exist")
    assert list(parent.iterdir()) == []
