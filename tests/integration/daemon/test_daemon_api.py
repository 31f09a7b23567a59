import grp
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import BIN, RunningDaemon, make_daemon, remove_tree

pytestmark = pytest.mark.integration


def test_ops_list_is_empty_json(bangerd: RunningDaemon) -> None:
    out = bangerd.cli("--json", "ops", "list", check=True)
    assert json.loads(out.stdout) == []
    out = bangerd.cli("ops", "list", "--json", check=True)
    assert json.loads(out.stdout) == []


def test_openapi_lists_routes(bangerd: RunningDaemon) -> None:
    with bangerd.http() as client:
        doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/v1/version", "/v1/operations", "/v1/operations/{op_id}/events", "/v1/doctor"):
        assert path in doc["paths"], path


def test_socket_is_group_restricted(bangerd: RunningDaemon) -> None:
    st = bangerd.socket.stat()
    assert oct(st.st_mode & 0o777) == "0o660"
    import grp

    assert grp.getgrgid(st.st_gid).gr_name == "banger"


@pytest.fixture
def open_daemon() -> Iterator[RunningDaemon]:
    """A daemon under a world-traversable directory, so 'nobody' can reach its socket file."""
    root = Path(tempfile.mkdtemp(prefix="banger-peer-", dir="/tmp"))
    os.chmod(root, 0o755)
    daemon = make_daemon(root / "d")
    os.chmod(daemon.root, 0o755)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        remove_tree(root)


def _request_as(
    daemon: RunningDaemon, ids: list[str], method: str, path: str, body: dict | None = None
) -> tuple[int, dict]:  # type: ignore[type-arg]
    """One raw HTTP request on the socket from a process with other credentials."""
    payload = json.dumps(body or {})
    script = (
        "import socket,sys;s=socket.socket(socket.AF_UNIX);"
        f"s.connect({str(daemon.socket)!r});b=sys.argv[1].encode();"
        f"s.sendall(b'{method} {path} HTTP/1.1\\r\\nhost: x\\r\\ncontent-type: application/json"
        "\\r\\ncontent-length: '+str(len(b)).encode()+b'\\r\\nconnection: close\\r\\n\\r\\n'+b);"
        "d=b''\nwhile (c:=s.recv(4096)): d+=c\n"
        "h,r=d.split(b'\\r\\n\\r\\n',1);print(h.split()[1].decode());print(r.decode())"
    )
    out = subprocess.run(
        ["setpriv", *ids, str(BIN / "python"), "-c", script, payload],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    status, text = out.stdout.split("\n", 1)
    return int(status), json.loads(text)


def test_non_member_is_refused_by_peer_credentials(open_daemon: RunningDaemon) -> None:
    # Open the file mode wide so only the SO_PEERCRED check stands between nobody and the API.
    os.chmod(open_daemon.socket, 0o666)
    nobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    status, body = _request_as(open_daemon, nobody, "GET", "/v1/version")
    assert status == 403 and body["code"] == "permission_denied"


def test_members_may_only_hand_in_paths_they_can_read(
    open_daemon: RunningDaemon, tmp_path: Path
) -> None:
    member = ["--reuid=nobody", "--regid=nogroup", f"--groups={grp.getgrnam('banger').gr_gid}"]
    status, _ = _request_as(open_daemon, member, "GET", "/v1/version")
    assert status == 200
    request = {"name": "stolen", "rootfs": "/etc/shadow", "kernel_file": "/etc/shadow"}
    status, body = _request_as(open_daemon, member, "POST", "/v1/images/register", request)
    assert status == 403 and "/etc/shadow" in body["message"] and "uid 65534" in body["message"]
    # A world-readable file is read (as the member) and then fails as what it is: no ext4.
    request = {"name": "fine", "rootfs": "/etc/hostname", "kernel_file": "/etc/hostname"}
    status, body = _request_as(open_daemon, member, "POST", "/v1/images/register", request)
    assert status == 412 and "ext4" in body["message"]  # the file, not the request


def test_not_found_error_is_one_line_and_nonzero(bangerd: RunningDaemon) -> None:
    out = bangerd.cli("ops", "show", "doesnotexist")
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0
    assert "no operation with id 'doesnotexist'" in out.stderr


def test_unreachable_daemon_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "banger"), "--socket", str(tmp_path / "none.sock"), "ops", "list"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "bangerd is not reachable" in out.stderr and "hint:" in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_bad_user_config_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("default_image_nam = 'x'\n")
    out = subprocess.run(
        [str(BIN / "banger"), "--config", str(cfg), "version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert str(cfg) in out.stderr and "'default_image_nam'" in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_bad_daemon_config_refuses_to_start(tmp_path: Path) -> None:
    cfg = tmp_path / "d.toml"
    cfg.write_text("[network]\nsubnet = 'x'\n")
    out = subprocess.run(
        [str(BIN / "bangerd"), "--config", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0
    assert "'network.subnet'" in out.stderr and out.stderr.strip().count("\n") == 0


def test_second_daemon_on_same_socket_is_refused(bangerd: RunningDaemon) -> None:
    out = subprocess.run(
        [str(BIN / "bangerd"), "--config", str(bangerd.config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0 and "already serving" in out.stderr


def test_version_reports_daemon(bangerd: RunningDaemon) -> None:
    data = json.loads(bangerd.cli("version", "--json", check=True).stdout)
    assert data["cli"] == data["daemon"]


def test_doctor_json_reports_kvm_truthfully(bangerd: RunningDaemon) -> None:
    out = bangerd.cli("doctor", "--json")
    report = json.loads(out.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["daemon"]["status"] == "pass"
    assert checks["kvm device"]["status"] == ("pass" if Path("/dev/kvm").exists() else "warn")
    if Path("/sys/module/kvm_pvm").exists():
        assert checks["kvm usable"]["status"] == "warn"
        assert "TCG" in checks["kvm usable"]["hint"]
    for name in ("qemu", "tcg", "tun", "bridge", "nftables", "mke2fs", "reflink", "device-mapper"):
        assert name in checks, name
    assert (out.returncode == 0) == report["ok"]


def test_state_dir_is_private_to_root(open_daemon: RunningDaemon) -> None:
    st = open_daemon.state_dir.stat()
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0, oct(st.st_mode)
    # Every directory above it is traversable here: only the state dir's own mode stands
    # between a user outside the group and the database or the images below it.
    for target in (open_daemon.state_dir / "images", open_daemon.state_dir / "banger.db"):
        probe = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls", target],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, target
