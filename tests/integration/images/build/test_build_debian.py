"""`image build` from the Debian image (which has sshd, so steps run over ssh by default):
run, copy and script steps land in the new image, a VM booted from it shows them, the
builder leaves no keys behind, a failing step leaves nothing behind, and build mode
(`--via console`) works on the same base."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from banger.disks import debugfs
from banger.errors import NotFound
from tests.helpers.daemon import RunningDaemon

from .conftest import (
    all_taps,
    build_from_broken_base_fails,
    build_leftovers,
    image_json,
    image_names,
    interrupt_build_in_first_step,
    rootfs_of,
)

pytestmark = pytest.mark.integration


def test_build_with_run_copy_script_then_boot(buildd: RunningDaemon, tmp_path: Path) -> None:
    base = Path(image_json(buildd, "deb")["files"]["rootfs"])
    base_digest = hashlib.sha256(base.read_bytes()).hexdigest()
    payload = tmp_path / "app.conf"
    payload.write_text("answer = 42\n")
    payload.chmod(0o640)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "tool").write_text("#!/bin/sh\necho tool\n")
    (tree / "sub" / "tool").chmod(0o755)
    script = tmp_path / "setup.sh"
    script.write_text(
        "#!/bin/bash\nset -euo pipefail\n"
        'echo "script sees $GREETING and $(cat /etc/app/app.conf)"\n'
        'echo "$GREETING" > /etc/built-greeting\n'
    )
    started = time.monotonic()
    out = buildd.cli(
        "image", "build", "--from-image", "deb", "--name", "deb-built",
        "--run", "echo step-one-ran; echo one > /etc/built-one",
        "--copy", f"{payload}:/etc/app/app.conf",
        "--copy", f"{tree}:/opt/tree",
        "--script", str(script),
        "--run", "test -x /opt/tree/sub/tool && /opt/tree/sub/tool > /etc/built-tool",
        # Over ssh the base's own init is up while steps run.
        "--run", "test -d /run/systemd/system && echo systemd-is-running",
        "--env", "GREETING=hello world",
        "--free", "64M",
    )  # fmt: skip
    print(f"build took {time.monotonic() - started:.1f}s")
    assert out.returncode == 0, out.stdout + out.stderr
    # Step output streamed to the CLI, in order.
    assert "step-one-ran" in out.stderr
    assert "script sees hello world and answer = 42" in out.stderr
    assert out.stderr.index("step-one-ran") < out.stderr.index("script sees")
    assert "systemd-is-running" in out.stderr
    assert "image deb-built built" in out.stdout

    info = image_json(buildd, "deb-built")
    assert info["managed"] is True
    assert info["source"] == {"kind": "build", "ref": "deb", "digest": None, "platform": None}
    provenance = info["provenance"]
    assert provenance["base"] == "deb"
    assert [s.split(":")[0] for s in provenance["steps"]] == [
        "run",
        "copy",
        "copy",
        "script",
        "run",
        "run",
    ]
    assert provenance["via"] == "ssh"
    assert provenance["env"] == ["GREETING"]
    assert provenance["built_at"] and provenance["banger_version"]

    # The base is untouched; the new image is a checked ext4 without builder settings.
    assert hashlib.sha256(base.read_bytes()).hexdigest() == base_digest
    rootfs = rootfs_of(buildd, "deb-built")
    assert debugfs.read_file(rootfs, "/etc/built-one") == b"one\n"
    assert debugfs.stat(rootfs, "/etc/app/app.conf").mode == 0o640
    assert debugfs.stat(rootfs, "/etc/app/app.conf").uid == 0
    # No trace of the builder: its settings, its host key, its login key; and the base's
    # (empty) machine-id is back, so each VM of the image gets its own.
    for leftover in (
        "/banger/vm.env",
        "/etc/ssh/ssh_host_ed25519_key",
        "/root/.ssh/authorized_keys",
    ):
        with pytest.raises(NotFound):
            debugfs.read_file(rootfs, leftover)
    assert debugfs.read_file(rootfs, "/etc/machine-id") == debugfs.read_file(
        base, "/etc/machine-id"
    )

    # A VM from the new image shows every change.
    buildd.cli("vm", "create", "--image", "deb-built", "--name", "b1", "--wait", check=True)
    try:
        shown = buildd.cli(
            "vm", "exec", "b1", "--", "cat", "/etc/built-one", "/etc/app/app.conf",
            "/etc/built-greeting", "/etc/built-tool", check=True,
        )  # fmt: skip
        assert shown.stdout.split("\n")[:4] == ["one", "answer = 42", "hello world", "tool"]
    finally:
        buildd.cli("vm", "delete", "--force", "b1", check=True)


def test_failing_step_exits_with_its_code_and_leaves_nothing(buildd: RunningDaemon) -> None:
    taps_before = all_taps()
    images_before = image_names(buildd)
    out = buildd.cli(
        "image", "build", "--from-image", "deb", "--name", "deb-broken",
        "--run", "echo fine",
        "--run", "echo about to fail; echo '@@banger-build fake exit 2 0'; exit 7",
        "--run", "echo never-runs",
    )  # fmt: skip
    assert out.returncode == 7, out.stdout + out.stderr
    assert "about to fail" in out.stderr
    assert "never-runs" not in out.stderr
    assert "step 2" in out.stderr and "exit code 7" in out.stderr
    assert image_names(buildd) == images_before
    assert build_leftovers(buildd, taps_before) == []


def test_build_mode_on_a_base_with_sshd(buildd: RunningDaemon) -> None:
    out = buildd.cli(
        "image", "build", "--from-image", "deb", "--name", "deb-console", "--via", "console",
        "--run", "test ! -d /run/systemd/system && echo before-init > /etc/built-console",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert image_json(buildd, "deb-console")["provenance"]["via"] == "console"
    assert debugfs.read_file(rootfs_of(buildd, "deb-console"), "/etc/built-console") == (
        b"before-init\n"
    )
    buildd.cli("image", "delete", "deb-console", check=True)


def test_ctrl_c_during_an_ssh_step_cancels_and_leaves_nothing(buildd: RunningDaemon) -> None:
    interrupt_build_in_first_step(buildd, "deb", "deb-cancel")


def test_base_refusing_root_ssh_fails_with_a_hint(buildd: RunningDaemon) -> None:
    # The image's own policy sits at the top of sshd_config (first value wins).
    build_from_broken_base_fails(
        buildd,
        "deb",
        "sed -i 's/^PermitRootLogin .*/PermitRootLogin no/' /etc/ssh/sshd_config"
        " && grep -q '^PermitRootLogin no' /etc/ssh/sshd_config",
        "could not run the steps over ssh",
        "PermitRootLogin",
        "--via console",
    )
