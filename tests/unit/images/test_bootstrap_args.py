"""The pure parts of bootstrap: mirror discovery and the mmdebstrap command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from banger.errors import InvalidArgument
from banger.images.bootstrap import (
    BASE_PACKAGES,
    bootstrap_debian,
    host_debian_mirror,
    mmdebstrap_argv,
)
from banger.ops.reporter import NullReporter

DEB822 = """\
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
# a comment line
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
"""


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(DEB822)
    assert host_debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://one.example/debian bookworm main\n"
    )
    assert host_debian_mirror(tmp_path) == "http://one.example/debian"


def test_mirror_falls_back_to_debian(tmp_path: Path) -> None:
    assert host_debian_mirror(tmp_path) == "http://deb.debian.org/debian"


def test_mmdebstrap_argv() -> None:
    argv = mmdebstrap_argv(
        Path("/w/rootfs"),
        suite="bookworm",
        mirror="http://m.example/debian",
        extra_packages=["curl", "udev"],
    )
    assert argv[:3] == ["mmdebstrap", "--mode=root", "--variant=minbase"]
    include = next(a for a in argv if a.startswith("--include=")).split("=", 1)[1].split(",")
    assert include == [*BASE_PACKAGES, "curl"]  # udev once, extras after the base set
    tail = argv[argv.index("bookworm") :]
    assert tail == [
        "bookworm",
        "/w/rootfs",
        "deb http://m.example/debian bookworm main",
        "deb http://m.example/debian bookworm-updates main",
        "deb http://m.example/debian-security bookworm-security main",
    ]
    sid = mmdebstrap_argv(Path("/r"), suite="sid", mirror="http://m/debian", extra_packages=[])
    assert sid[-1] == "deb http://m/debian sid main"


@pytest.mark.parametrize("bad", ["--option", "Curl", "a b", "", "pkg;rm"])
def test_bad_package_names_are_refused_before_any_work(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid Debian package name"):
        bootstrap_debian(
            tmp_path / "out.ext4",
            extra_packages=[bad],
            free_bytes=0,
            reporter=NullReporter(),
            workdir=tmp_path / "work",
        )
    assert list(tmp_path.iterdir()) == []
