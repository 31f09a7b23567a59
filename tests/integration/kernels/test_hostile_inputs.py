"""Kernel import attacked by a real non-root member of group banger.

The daemon runs as root; the member must gain nothing from it beyond their own objects:
no setuid-root file, no device, no import stuck on a FIFO, no byte of a root-only file,
no kernel address from /proc, and nothing left behind by a failure or a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import RunningDaemon
from tests.helpers.kernel_artifacts import debian_kernel_deb
from tests.integration.kernels.attacker import (
    Member,
    dangerous_entries,
    group_member,
    reachable_daemon,
)
from tests.unit.kernels.hostile import (
    FAKE_VERSION,
    SECRET,
    build_deb,
    files_containing,
    kernel_tree,
    secret_file,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def attack() -> Iterator[tuple[RunningDaemon, Member, Path]]:
    """(daemon, member, world): world is a 0755 directory holding the daemon and the member."""
    with reachable_daemon() as (daemon, world), group_member(world) as member:
        yield daemon, member, world


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """A non-zero exit with exactly one error line naming `words`; returns that line."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "hint:" in lines[0], lines[0]
    return lines[0]


def assert_nothing_left(daemon: RunningDaemon, member: Member) -> None:
    """No kernel row, no kernel directory, no staging, no operation still running."""
    listing = member.cli(daemon, "--json", "kernel", "list")
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == []
    assert sorted(os.listdir(daemon.state_dir / "kernels")) == []
    assert sorted(os.listdir(daemon.state_dir / "tmp")) == []
    with daemon.http() as client:
        states = [op["state"] for op in client.get("/operations").json()]
    assert "running" not in states and "pending" not in states, states


def test_setuid_device_and_fifo_in_a_deb_give_nothing(
    attack: tuple[RunningDaemon, Member, Path],
) -> None:
    daemon, member, _ = attack
    tree = kernel_tree(member.home / "evil")
    kernel = tree / "boot" / f"vmlinuz-{FAKE_VERSION}"
    kernel.unlink()
    os.mkfifo(kernel)  # blocked the import forever, keeping the staging dir alive
    (tree / "usr/bin").mkdir(parents=True)
    shutil.copy(shutil.which("id") or "/usr/bin/id", tree / "usr/bin/rootshell")
    os.chmod(tree / "usr/bin/rootshell", 0o4755)
    os.mknod(tree / "usr/bin/mem", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    deb = member.own(build_deb(tree, member.home / "evil.deb"))

    importing = subprocess.Popen(
        member.argv(*daemon_cli(daemon), "kernel", "import", str(deb), "--name", "evil"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=member.env(),
    )
    escalations: list[str] = []
    deadline = time.monotonic() + 60
    while importing.poll() is None and time.monotonic() < deadline:
        # While the import runs, try every setuid file the daemon created, as the member.
        for found in setuid_files(daemon.state_dir):
            ran = member.run(str(found), timeout=10)
            if "euid=0" in ran.stdout or ran.stdout.startswith("uid=0"):
                escalations.append(f"{found}: {ran.stdout.strip()}")
        time.sleep(0.1)
    hung = importing.poll() is None
    if hung:
        importing.kill()
    stdout, stderr = importing.communicate()
    assert escalations == [], escalations
    assert not hung, "kernel import blocked on a FIFO from the package"
    result = subprocess.CompletedProcess(importing.args, importing.returncode, stdout, stderr)
    assert_refused(result, "evil.deb", "only regular files, directories and symlinks")
    assert dangerous_entries(daemon.state_dir) == []
    assert_nothing_left(daemon, member)


def test_fifos_never_block_an_import(attack: tuple[RunningDaemon, Member, Path]) -> None:
    daemon, member, _ = attack
    fifo = member.home / "kernel.fifo"
    os.mkfifo(fifo)
    tree = kernel_tree(member.home / "tree")
    (tree / "boot" / f"vmlinuz-{FAKE_VERSION}").unlink()
    os.mkfifo(tree / "boot" / f"vmlinuz-{FAKE_VERSION}")
    good = kernel_tree(member.home / "good")
    member.own(member.home)
    attempts = [
        ("kernel", "import", str(fifo), "--name", "a"),
        ("kernel", "import", str(tree), "--name", "b"),
        ("kernel", "import", str(good), "--name", "c", "--initrd", str(fifo)),
    ]
    for args in attempts:
        result = member.cli(daemon, *args, timeout=60)
        assert_refused(result, "FIFO", "not a regular file")
        assert_nothing_left(daemon, member)


def test_symlinks_never_reach_root_only_files(
    attack: tuple[RunningDaemon, Member, Path],
) -> None:
    daemon, member, world = attack
    secret = secret_file(world)
    # An unpacked tree whose config is the caller's symlink to a root-only file.
    tree = kernel_tree(member.home / "tree", config=None)
    (tree / "boot" / f"config-{FAKE_VERSION}").symlink_to(secret)
    # A modules tree hiding the same link; an initrd that is that link.
    modules = member.home / "mods" / FAKE_VERSION
    modules.mkdir(parents=True)
    (modules / "modules.builtin").symlink_to(secret)
    (member.home / "initrd.img").symlink_to(secret)
    plain = kernel_tree(member.home / "plain")
    # Packages whose config is an absolute or a ../ symlink to it.
    debs = []
    for label, target in (("abs", str(secret)), ("up", "../" * 12 + str(secret).lstrip("/"))):
        deb_tree = kernel_tree(member.home / f"deb-{label}", config=None)
        (deb_tree / "boot" / f"config-{FAKE_VERSION}").symlink_to(target)
        debs.append(build_deb(deb_tree, member.home / f"{label}.deb"))
    member.own(member.home)

    refused = member.cli(daemon, "kernel", "import", str(tree), "--name", "t1")
    assert_refused(refused, str(tree), f"uid {member.uid} may not read")
    assert_nothing_left(daemon, member)
    args = ("kernel", "import", str(plain), "--name", "t2", "--modules", str(modules))
    assert_refused(member.cli(daemon, *args), "modules.builtin", "may not read")
    assert_nothing_left(daemon, member)
    # The CLI refuses an unreadable --initrd itself; an attacker talks to the API directly.
    body = {"name": "t3", "source": str(plain), "initrd": str(member.home / "initrd.img")}
    op = member.api_import(daemon, body)
    assert op["state"] == "failed", op
    assert "initrd.img" in op["error"]["message"] and "may not read" in op["error"]["message"]
    assert_nothing_left(daemon, member)
    for deb in debs:
        result = member.cli(daemon, "kernel", "import", str(deb), "--name", "t4")
        assert_refused(result, deb.name, "outside the package")
        assert_nothing_left(daemon, member)
    assert files_containing(daemon.state_dir, SECRET) == []


def test_procfs_and_sysfs_are_refused(attack: tuple[RunningDaemon, Member, Path]) -> None:
    daemon, member, _ = attack
    tree = kernel_tree(member.home / "tree")
    linked = kernel_tree(member.home / "linked", config=None)
    (linked / "boot" / f"config-{FAKE_VERSION}").symlink_to("/proc/kallsyms")
    member.own(member.home)
    for initrd, fs in (("/proc/kallsyms", "procfs"), ("/sys/kernel/notes", "sysfs")):
        result = member.cli(
            daemon, "kernel", "import", str(tree), "--name", "p", "--initrd", initrd
        )
        assert_refused(result, initrd, fs)
        assert_nothing_left(daemon, member)
    result = member.cli(daemon, "kernel", "import", str(linked), "--name", "q")
    assert_refused(result, "procfs")
    assert_nothing_left(daemon, member)


def test_imported_kernel_files_are_root_only(attack: tuple[RunningDaemon, Member, Path]) -> None:
    daemon, member, _ = attack
    tree = kernel_tree(member.home / "tree")
    initrd = member.home / "initrd.img"
    initrd.write_bytes(b"my own initrd")
    os.chmod(initrd, 0o600)  # readable by its owner only: the member
    member.own(member.home)
    done = member.cli(
        daemon, "--json", "kernel", "import", str(tree), "--name", "mine", "--initrd", str(initrd)
    )
    assert done.returncode == 0, done.stderr
    kernel = json.loads(done.stdout)
    directory = daemon.state_dir / "kernels" / kernel["id"]
    assert (directory / "initrd.img").read_bytes() == b"my own initrd"
    for current, dirs, files in os.walk(directory):
        for name in dirs:
            st = (Path(current) / name).lstat()
            assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0, name
        for name in files:
            st = (Path(current) / name).lstat()
            assert stat.S_ISREG(st.st_mode), name
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, name
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    peek = member.run("cat", str(directory / "initrd.img"))
    assert peek.returncode != 0 and "Permission denied" in peek.stderr
    assert dangerous_entries(daemon.state_dir) == []


def test_a_crash_mid_import_leaves_no_staging(attack: tuple[RunningDaemon, Member, Path]) -> None:
    daemon, member, _ = attack
    deb = debian_kernel_deb()  # 0644 in a 0755 cache: the member may read it
    importing = subprocess.Popen(
        member.argv(*daemon_cli(daemon), "kernel", "import", str(deb), "--name", "debian"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=member.env(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not staging_entries(daemon):
        time.sleep(0.02)
    assert staging_entries(daemon), "no staging directory appeared"
    time.sleep(0.5)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    daemon.proc = None
    importing.wait(30)
    # Whatever the import had built is private (0700) and under tmp/, never in kernels/.
    assert sorted(os.listdir(daemon.state_dir / "kernels")) == []
    for entry in (daemon.state_dir / "tmp").iterdir():
        assert stat.S_IMODE(entry.lstat().st_mode) == 0o700, entry
    daemon.start()
    assert_nothing_left(daemon, member)
    # And the member's ordinary import of the real package works end to end.
    done = member.cli(
        daemon, "--json", "kernel", "import", str(deb), "--name", "debian", timeout=600
    )
    assert done.returncode == 0, done.stderr
    kernel = json.loads(done.stdout)
    assert kernel["initrd_generated"] and "modules" in kernel["files"]
    assert sorted(os.listdir(daemon.state_dir / "tmp")) == []
    assert dangerous_entries(daemon.state_dir) == []


def daemon_cli(daemon: RunningDaemon) -> list[str]:
    from tests.helpers.daemon import BIN

    return [str(BIN / "banger"), "--socket", str(daemon.socket)]


def setuid_files(root: Path) -> list[Path]:
    found = []
    for current, _, files in os.walk(root):
        for name in files:
            path = Path(current) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_ISUID:
                found.append(path)
    return found


def staging_entries(daemon: RunningDaemon) -> list[str]:
    names = []
    for sub in ("kernels", "tmp"):
        names += [f"{sub}/{n}" for n in os.listdir(daemon.state_dir / sub)]
    return names
