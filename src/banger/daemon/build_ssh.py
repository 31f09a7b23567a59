"""The ssh path of `image build`: steps run in an ssh session inside the booted builder.

A base with an sshd boots like any VM (its own init, services, udev), so steps see the
system they will run in later. The daemon logs in as root with a one-off key and runs the
build disk's run.sh in that session: the framed protocol of build_disk.py arrives on
ssh's stdout instead of the serial console and is judged exactly as in build mode. Then
the builder's traces are removed (its key, host key, /banger settings), the VM is shut
down cleanly, and the base's /etc/machine-id is put back so every VM of the image still
gets its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from banger import proc, ssh_command
from banger.disks import debugfs
from banger.errors import (
    BangerError,
    BootFailed,
    CommandFailed,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from banger.guest import GuestFile
from banger.guest.boot_watch import ConsoleWatch, Phase
from banger.guest.ready import wait_for_ssh
from banger.guest.sshd import SSHD_PATHS, has_sshd
from banger.images.build_console import Event, Transcript
from banger.images.build_disk import GUEST_BUSYBOX, GUEST_MOUNT, sh_quote
from banger.ops.manager import OperationReporter
from banger.ops.reporter import is_cancelled
from banger.store.layout import BuilderDir
from banger.vmm import Backend, ProcessState, VMHandle

HOST_ALIAS = "banger-builder"
MACHINE_ID = "/etc/machine-id"
# A machine-id is 32 hex digits and a newline; anything much larger is not one, and the
# base image is untrusted (a sparse file may claim gigabytes): refuse it, never read it.
MACHINE_ID_MAX_BYTES = 4096
SHUTDOWN_SECONDS = 60.0
# A TCG boot to sshd takes ~25 s here; a base whose sshd never comes up should fail in
# minutes, not at the end of the whole build timeout.
SSH_WAIT_SECONDS = 300.0
SCRUB_SECONDS = 60.0
# The runner's exit status when the build disk cannot be mounted (outside any step's range).
MOUNT_FAILED_EXIT = 97

Via = Literal["ssh", "console"]


def base_has_sshd(rootfs: Path) -> bool:
    """True if the base image ships an OpenSSH sshd (looked up without mounting it)."""

    def file_type(path: str) -> str | None:
        try:
            return debugfs.stat(rootfs, path).type
        except (NotFound, CommandFailed):
            return None

    return has_sshd(file_type)


def choose_via(requested: str, rootfs: Path, base_name: str) -> Via:
    """auto → ssh when the base has an sshd, else console; an explicit ssh needs one."""
    if requested == "console":
        return "console"
    has_sshd = base_has_sshd(rootfs)
    if requested == "ssh" and not has_sshd:
        raise InvalidArgument(
            f"base image {base_name} has no sshd ({' or '.join(SSHD_PATHS)}), "
            "so steps cannot run over ssh",
            hint="use --via console (or auto), or first build an image that installs sshd",
        )
    return "ssh" if has_sshd else "console"


def save_machine_id(root: Path) -> GuestFile | None:
    """The base's /etc/machine-id as it is before the builder's init may fill it in.

    One larger than MACHINE_ID_MAX_BYTES fails the build (InvalidArgument naming the file).
    """
    try:
        info = debugfs.stat(root, MACHINE_ID)
        if info.type != "regular":
            return None
        content = debugfs.read_file(root, MACHINE_ID, max_bytes=MACHINE_ID_MAX_BYTES)
    except (NotFound, CommandFailed):
        return None
    return GuestFile(MACHINE_ID, content, info.mode, info.uid, info.gid)


def restore_machine_id(root: Path, saved: GuestFile | None) -> None:
    if saved is not None:
        debugfs.write_files(root, [saved])


def _ssh_argv(ip: str, key: Path, known_hosts: Path) -> list[str]:
    return ssh_command.ssh_argv(
        ip, key, known_hosts, HOST_ALIAS, batch=True, tty=False, ignore_user_config=True
    )


def runner_command(build_device: str) -> str:
    """The remote command: mount the build disk, run run.sh, unmount, keep its status."""
    bb, mount, dev = sh_quote(GUEST_BUSYBOX), sh_quote(GUEST_MOUNT), sh_quote(build_device)
    return (
        f"{bb} mkdir -p {mount} && {bb} mount -t ext4 -o ro {dev} {mount} "
        f"|| exit {MOUNT_FAILED_EXIT}; "
        f"{bb} sh {mount}/run.sh; status=$?; {bb} umount {mount}; exit $status"
    )


def scrub_command(client_public_key: str) -> str:
    """Remove what only the builder needed: its settings, host key and login key."""
    bb = sh_quote(GUEST_BUSYBOX)
    key = sh_quote(client_public_key.strip())
    return (
        f"{bb} rm -f /banger/vm.env /banger/authorized_keys /banger/ssh_host_ed25519_key "
        "/banger/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key "
        "/etc/ssh/ssh_host_ed25519_key.pub; "
        f'if [ "$({bb} cat /root/.ssh/authorized_keys 2>/dev/null)" = {key} ]; then '
        f"{bb} rm -f /root/.ssh/authorized_keys; fi; {bb} sync"
    )


def run_over_ssh(
    *,
    ip: str,
    host_key_public: str,
    client_key: Path,
    client_public_key: str,
    build_device: str,
    transcript: Transcript,
    backend: Backend,
    handle: VMHandle,
    reporter: OperationReporter,
    on_event: Callable[[Event], None],
    deadline: float,
    watch: ConsoleWatch,
) -> None:
    """Wait for sshd, run the steps, scrub, shut the builder down; fills `transcript`."""
    reporter.stage("wait for the builder's sshd")
    try:
        wait_for_ssh(
            ip,
            timeout=max(1.0, min(SSH_WAIT_SECONDS, deadline - time.monotonic())),
            alive=lambda: backend.status(handle) is ProcessState.RUNNING,
            watch=watch,
            check_cancelled=reporter.check_cancelled,
        )
    except BootFailed as exc:
        watch.report_tail(reporter.log)
        if watch.phase is Phase.KERNEL or watch.panic_line is not None:
            raise  # the kernel's fault (or KVM's), not the base's sshd: say that
        raise BootFailed(
            f"the builder's sshd never answered: {exc.message}",
            hint="the base's sshd may be broken or disabled; build with --via console",
        ) from None
    known_hosts = BuilderDir(client_key.parent).known_hosts
    known_hosts.write_text(f"{HOST_ALIAS} {' '.join(host_key_public.split()[:2])}\n")
    ssh = _ssh_argv(ip, client_key, known_hosts)

    def on_line(line: str) -> None:
        for event in transcript.feed(line.encode() + b"\n"):
            on_event(event)

    try:
        proc.stream(
            [*ssh, runner_command(build_device)],
            on_line,
            timeout=max(1.0, deadline - time.monotonic()),
            # A killed builder sends no RST: ssh must be stopped, not left to time out.
            cancelled=lambda: is_cancelled(reporter),
            hint="a step may be waiting for input or the network",
        )
    except CommandFailed as exc:
        reporter.check_cancelled()  # a cancel kills the VMM, which ends ssh: say "cancelled"
        if transcript.done is None:
            _raise_session_lost(exc, transcript)
    reporter.check_cancelled()
    if transcript.succeeded:
        reporter.stage("remove the builder's keys")
        proc.run([*ssh, scrub_command(client_public_key)], timeout=SCRUB_SECONDS)
        reporter.stage("builder shutting down")
        backend.stop(handle, timeout=SHUTDOWN_SECONDS)
    else:
        backend.kill(handle)  # its disk is thrown away: no need to wait for a clean shutdown


def _raise_session_lost(exc: CommandFailed, transcript: Transcript) -> None:
    if exc.returncode == MOUNT_FAILED_EXIT:
        raise BangerError(
            "the builder could not mount its build disk",
            hint="the base image's kernel may lack ext4 or virtio-blk support",
            code="build_failed",
        )
    if transcript.current is None and not transcript.exits:
        raise Unavailable(
            f"could not run the steps over ssh in the builder: {exc.message}",
            hint="the base's sshd may refuse root logins by key (PermitRootLogin); "
            "build with --via console",
        )
    raise Unavailable(
        f"the ssh session to the builder ended during step {transcript.current}: {exc.message}",
        hint="read the operation log (banger ops show ID); a step may have stopped sshd or "
        "rebooted the builder",
    )
