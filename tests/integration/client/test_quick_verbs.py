"""`banger.client` and the `banger` CLI against a real bangerd on a temporary socket.

Only verbs that boot nothing: one module-wide daemon with an unmanaged image ("tiny": a
real ext4 and a file that passes for an ELF kernel) and one VM created with --no-start.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from banger import errors
from banger.api.models import VM, Image, Operation
from banger.client import Client
from banger.store.layout import StateLayout
from tests.helpers.cli_imports import HEAVY, TYPER, modules_loaded_by
from tests.helpers.daemon import BIN, RunningDaemon, make_daemon

pytestmark = pytest.mark.integration

DOC_JSON = Path(__file__).parents[3] / "docs" / "cli-json.md"
SQLITE_SIDECARS = {"banger.db-wal", "banger.db-shm"}


def _tiny_files(root: Path) -> tuple[Path, Path]:
    rootfs = root / "tiny.ext4"
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", str(rootfs), "8M"], check=True, capture_output=True
    )
    kernel = root / "vmlinux"
    kernel.write_bytes(b"\x7fELF" + bytes(0x400))  # the format check reads the magic only
    return rootfs, kernel


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    root = tmp_path_factory.mktemp("quick")
    running = make_daemon(root / "d")
    user_config = root / "user.toml"
    user_config.write_text("")
    running.env = {"BANGER_CONFIG": str(user_config), "XDG_CONFIG_HOME": str(root / "xdg")}
    running.start()
    try:
        rootfs, kernel = _tiny_files(root)
        running.cli(
            "image", "register", "--name", "tiny", "--rootfs", str(rootfs), "--kernel",
            str(kernel), check=True,
        )  # fmt: skip
        running.cli(
            "vm", "create", "--no-start", "--name", "idle", "--image", "tiny",
            "--backend", "qemu", check=True,
        )  # fmt: skip
        yield running
    finally:
        with running.http() as http:  # nothing here boots, but leave no bridge either way
            http.post("/network/teardown")
        running.stop()


@pytest.fixture
def client(daemon: RunningDaemon) -> Iterator[Client]:
    with Client(daemon.socket) as c:
        yield c


def _documented_fields(verb: str) -> set[str]:
    """The top-level fields docs/cli-json.md lists for a verb's JSON."""
    for line in DOC_JSON.read_text().splitlines():
        if line.startswith(f"| `{verb}`"):
            # The first code span after "Model:" lists them; prose may follow it.
            span = re.search(r"`([^`]*)`", line.split("|")[2].split(":", 1)[1])
            assert span, line
            listed = re.sub(r"\{[^}]*\}", "", span.group(1))  # nested: only the parent
            return {f.strip() for f in listed.split(",") if f.strip()}
    raise AssertionError(f"docs/cli-json.md has no row for `{verb}`")


def _one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert out.stdout == ""  # errors never land on stdout, not even with --json
    return out.stderr.strip()


# -- the client ------------------------------------------------------------------------------


def test_client_lists_decode_into_the_api_models(client: Client) -> None:
    vms = [VM.model_validate(v) for v in client.get("/vms")]
    assert [(v.name, v.state, v.backend, v.image) for v in vms] == [
        ("idle", "stopped", "qemu", "tiny")
    ]
    images = [Image.model_validate(i) for i in client.get("/images")]
    assert [(i.name, i.managed) for i in images] == [("tiny", False)]
    assert client.get("/kernels") == []


def test_client_maps_http_errors_back_to_banger_errors(client: Client) -> None:
    with pytest.raises(errors.NotFound) as missing:
        client.get("/vms/nope")
    assert missing.value.code == "not_found" and "'nope'" in missing.value.message
    assert missing.value.hint  # the daemon's hint travels with it
    with pytest.raises(errors.InvalidArgument):
        client.post("/images/register", {"name": "Bad Name!", "rootfs": "/nonexistent"})


def test_client_follows_an_operation_to_its_end(client: Client) -> None:
    ops = [Operation.model_validate(o) for o in client.get("/operations")]
    create = next(o for o in ops if o.kind == "vm.create")
    events = list(client.events(create.id))  # returns: the stream of a finished one ends
    assert events, "a finished operation still sends its final snapshot"
    final = events[-1].operation
    assert (final.id, final.state, final.target) == (create.id, "succeeded", "idle")
    assert final.result is not None and final.result["name"] == "idle"
    log = [line for event in events for line in event.log]
    assert log == client.get(f"/operations/{create.id}/log")["lines"]


# -- the CLI: lists and --json ---------------------------------------------------------------


def test_vm_list_table_and_json(daemon: RunningDaemon) -> None:
    table = daemon.cli("vm", "list", check=True).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "OWNER", "STATE"]
    assert row.split()[:5] == ["idle", "root", "stopped", "qemu", "tiny"]
    for args in (("--json", "vm", "list"), ("vm", "list", "--json")):
        listed = json.loads(daemon.cli(*args, check=True).stdout)
        assert [v["name"] for v in listed] == ["idle"]
        assert set(listed[0]) == _documented_fields("vm list")


@pytest.mark.parametrize(
    ("group", "path", "model"),
    [("vm", "/vms", VM), ("image", "/images", Image), ("ops", "/operations", Operation)],
)
def test_lists_and_shows_print_the_models_json(
    daemon: RunningDaemon, client: Client, group: str, path: str, model: Any
) -> None:
    """The quick path prints the daemon's JSON as it comes: exactly what validating it into
    the API model and dumping that printed before (and what docs/cli-json.md promises)."""
    models = [model.model_validate(v) for v in client.get(path)]
    as_before = json.dumps([m.model_dump(mode="json") for m in models], indent=2) + "\n"
    assert daemon.cli("--json", group, "list", check=True).stdout == as_before
    if group != "ops":  # ops show adds the log (test_ops_list_show_and_wait)
        shown = daemon.cli(group, "show", models[0].name, "--json", check=True).stdout
        assert shown == json.dumps(models[0].model_dump(mode="json"), indent=2) + "\n"


def test_vm_show_fields_are_the_models(daemon: RunningDaemon, client: Client) -> None:
    vm = VM.model_validate(client.get("/vms/idle"))
    fields = daemon.cli("vm", "show", "idle", check=True).stdout.splitlines()
    assert [line.split()[0] for line in fields if line[:1] != " "] == [
        k for k in vm.model_dump() if k not in {"authorized_keys", "ssh_host_key"}
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--json", "vm", "list"),
        ("vm", "list"),
        ("vm", "show", "idle", "--json"),
        ("image", "list", "--json"),
        ("ops", "list"),
        ("version",),
    ],
)
def test_quick_verbs_load_neither_typer_nor_models(
    daemon: RunningDaemon, tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules, out = modules_loaded_by(
        tmp_path, "--socket", str(daemon.socket), *args, env=daemon.env
    )
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
    allowed = {"rich"} if args in {("vm", "list"), ("ops", "list")} else set()  # tables
    assert not modules & (HEAVY | TYPER) - allowed, sorted(modules & (HEAVY | TYPER))


def test_exec_on_a_stopped_vm_is_one_line_without_typer_or_models(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    modules, out = modules_loaded_by(
        tmp_path, "--socket", str(daemon.socket), "vm", "exec", "idle", "--", "true",
        env=daemon.env,
    )  # fmt: skip
    assert "VM 'idle' is stopped" in _one_error_line(out)
    assert not modules & (HEAVY | TYPER) - {"rich"}, sorted(modules & (HEAVY | TYPER))


def test_image_list_table_and_json(daemon: RunningDaemon) -> None:
    assert "tiny" in daemon.cli("image", "list", check=True).stdout
    listed = json.loads(daemon.cli("image", "list", "--json", check=True).stdout)
    assert [i["name"] for i in listed] == ["tiny"]
    assert set(listed[0]) == _documented_fields("image list")
    assert listed[0]["owner_uid"] == 0 and listed[0]["owner"] == "root"


def test_kernel_list_when_there_is_none(daemon: RunningDaemon) -> None:
    assert json.loads(daemon.cli("kernel", "list", "--json", check=True).stdout) == []
    # An empty list says how to get a kernel, rather than printing a bare header.
    out = daemon.cli("kernel", "list", check=True)
    assert out.stdout.strip() == "no kernels (get one: banger kernel fetch debian)"


def test_ops_list_show_and_wait(daemon: RunningDaemon) -> None:
    listed = json.loads(daemon.cli("ops", "list", "--json", check=True).stdout)
    create = next(o for o in listed if o["kind"] == "vm.create")
    assert set(create) == _documented_fields("ops list")
    assert (create["target"], create["state"]) == ("idle", "succeeded")
    shown = json.loads(daemon.cli("ops", "show", create["id"], "--json", check=True).stdout)
    assert set(shown) == _documented_fields("ops list") | {"log"}
    assert isinstance(shown["log"], list) and shown["log"]
    assert daemon.cli("ops", "wait", create["id"], check=True).stdout.strip() == (
        f"{create['id']}: succeeded"
    )
    table = daemon.cli("ops", "list", check=True).stdout
    assert create["id"] in table and "vm.create" in table


def test_doctor_table_names_the_daemon_first(daemon: RunningDaemon) -> None:
    out = daemon.cli("doctor")
    first = out.stdout.splitlines()[0].split()
    assert first[:2] == ["pass", "daemon"] and str(daemon.socket) in out.stdout
    report = json.loads(daemon.cli("doctor", "--json").stdout)
    assert set(report) == {"checks", "ok"}
    assert set(report["checks"][0]) == {"name", "status", "required", "detail", "hint", "evidence"}
    assert (out.returncode == 0) == report["ok"]


# -- the CLI: error paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vm", "show", "nope"), "no VM named 'nope'"),
        (("--json", "vm", "show", "nope"), "no VM named 'nope'"),
        (("vm", "delete", "nope"), "no VM named 'nope'"),
        (("vm", "start", "nope"), "no VM named 'nope'"),
        (("image", "show", "nope"), "no image named 'nope'"),
        (("kernel", "show", "nope"), "no kernel named 'nope'"),
        (("vm", "create", "--no-start", "--name", "idle", "--image", "tiny"), "'idle'"),
    ],
)
def test_bad_names_are_one_error_line(
    daemon: RunningDaemon, args: tuple[str, ...], message: str
) -> None:
    line = _one_error_line(daemon.cli(*args))
    assert line.startswith("error: ") and message in line


def test_doctor_without_a_daemon_still_checks_the_host(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "banger"), "--socket", str(tmp_path / "none.sock"), "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(out.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["daemon"]["status"] == "fail" and "not reachable" in checks["daemon"]["detail"]
    assert "qemu" in checks and "kvm usable" in checks  # the host probes ran anyway
    assert out.returncode == 1 and report["ok"] is False


# -- what the daemon really wrote ------------------------------------------------------------


def test_the_state_dir_holds_only_names_layout_defines(daemon: RunningDaemon) -> None:
    layout = StateLayout(daemon.state_dir)
    top = {p.name for p in daemon.state_dir.iterdir()} - SQLITE_SIDECARS
    assert top <= {p.name for p in (layout.db, layout.kernels, layout.images, layout.vms,
                                     layout.cache, layout.tmp)}  # fmt: skip
    (vm,) = [VM.model_validate(v) for v in json.loads(daemon.cli("--json", "vm", "list").stdout)]
    vm_dir = layout.vm(vm.id)
    assert {p.name for p in vm_dir.path.iterdir()} == {
        vm_dir.root_disk.name,
        vm_dir.host_key.name,
    }
    assert list(layout.tmp.iterdir()) == []  # nothing left over from the create
