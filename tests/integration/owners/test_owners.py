"""Owners, attacked by real users of a shared host through the real CLI.

Users A and B are throwaway members of group banger; a third is in the daemon's
admin_group. B must not see, stop, delete, read the console of, ssh into, follow or cancel
anything of A's; names of A's objects must not leak (a hidden object fails exactly like a
missing one); shared images and kernels are usable by everyone and changeable by their
owner and admins only; root and admins see everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.integration.owners.members import SharedHost, User, refused, shared_host, small_ext4

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host() -> Iterator[SharedHost]:
    with shared_host() as running:
        yield running


def share_defaults(host: SharedHost) -> None:
    """What scripts/setup does after creating the default kernel and image as root."""
    host.daemon.cli("kernel", "share", "debian", check=True)
    host.daemon.cli("image", "share", "deb", check=True)


def names(user: User, host: SharedHost, *verb: str) -> list[str]:
    return [o["name"] for o in user.json(host.daemon, *verb, "list")]


def op_of(user: User, host: SharedHost, kind: str, target: str) -> dict:  # type: ignore[type-arg]
    ops = user.json(host.daemon, "ops", "list")
    return next(o for o in ops if o["kind"] == kind and o["target"] == target)


def assert_hidden(user: User, host: SharedHost, args: list[str], name: str, noun: str) -> None:
    """`args` naming `name` fails exactly as it does for a name nobody ever used."""
    line = refused(user.cli(host.daemon, *args), f"no {noun} named '{name}'")
    ghost = [a.replace(name, "never-was") for a in args]
    missing = refused(user.cli(host.daemon, *ghost), f"no {noun} named 'never-was'")
    assert line == missing.replace("never-was", name)


def test_roots_objects_are_invisible_to_members_until_shared(host: SharedHost) -> None:
    root, b = host.daemon, host.b
    root.cli("kernel", "unshare", "debian", check=True)
    root.cli("image", "unshare", "deb", check=True)
    assert names(b, host, "kernel") == [] and names(b, host, "image") == []
    assert_hidden(b, host, ["image", "show", "deb"], "deb", "image")
    assert_hidden(b, host, ["kernel", "show", "debian"], "debian", "kernel")
    assert_hidden(b, host, ["vm", "create", "--image", "deb", "--no-start"], "deb", "image")

    share_defaults(host)
    [image] = b.json(root, "image", "list")
    [kernel] = b.json(root, "kernel", "list")
    assert (image["name"], image["owner"], image["owner_uid"], image["shared"]) == (
        "deb", "root", 0, True,
    )  # fmt: skip
    assert (kernel["name"], kernel["owner"], kernel["shared"]) == ("debian", "root", True)
    table = b.ok(root, "image", "list")
    assert "OWNER" in table and "SHARED" in table and "root" in table


def test_a_members_vm_does_not_exist_for_another(host: SharedHost) -> None:
    share_defaults(host)
    root, a, b = host.daemon, host.a, host.b
    a.ok(root, "vm", "create", "--name", "a-idle", "--image", "deb", "--no-start")
    mine = a.json(root, "vm", "show", "a-idle")
    assert mine["owner_uid"] == a.uid and mine["owner"] == a.name
    assert "a-idle" not in names(b, host, "vm")
    for args in (
        ["vm", "show", "a-idle"],
        ["vm", "show", mine["id"]],
        ["vm", "start", "a-idle"],
        ["vm", "stop", "a-idle"],
        ["vm", "restart", "a-idle"],
        ["vm", "delete", "a-idle", "--force"],
        ["vm", "logs", "a-idle"],
        ["vm", "ssh", "a-idle", "--", "true"],
        ["vm", "exec", "a-idle", "--", "true"],
        ["vm", "cp", "/etc/hostname", "a-idle:/tmp/x"],
    ):
        target = mine["id"] if mine["id"] in args else "a-idle"
        assert_hidden(b, host, args, target, "VM")
    # Names are unique across users; the clash says nothing of whose the name is.
    clash = refused(
        b.cli(root, "vm", "create", "--name", "a-idle", "--no-start", "--image", "deb"),
        "a VM named 'a-idle' already exists",
    )
    assert a.name not in clash and str(a.uid) not in clash and "delete" not in clash
    # A's VM is untouched, and A's create operation is A's alone.
    assert a.json(root, "vm", "show", "a-idle")["state"] == "stopped"
    op = op_of(a, host, "vm.create", "a-idle")
    assert op["owner"] == a.name
    assert op["id"] not in [o["id"] for o in b.json(root, "ops", "list")]
    for verb in ("show", "cancel", "wait"):
        refused(b.cli(root, "ops", verb, op["id"]), f"no operation with id '{op['id']}'")
    a.ok(root, "vm", "delete", "a-idle")


def test_a_running_operation_cannot_be_followed_or_cancelled_by_another(
    host: SharedHost,
) -> None:
    """One real boot: A creates and waits for a VM while B tries to cancel and follow it."""
    share_defaults(host)
    root, a, b = host.daemon, host.a, host.b
    create = a.popen(root, "vm", "create", "--name", "a-boot", "--image", "deb", "--wait")
    try:
        deadline = time.monotonic() + 60
        op = None
        while op is None and time.monotonic() < deadline:
            with root.http() as client:
                ops = client.get("/operations").json()  # root sees every operation
            op = next((o for o in ops if o["target"] == "a-boot"), None)
            time.sleep(0.2)
        assert op is not None and op["owner_uid"] == a.uid
        for verb in ("cancel", "wait", "show"):
            refused(b.cli(root, "ops", verb, op["id"]), f"no operation with id '{op['id']}'")
        _, err = create.communicate(timeout=900)
    finally:
        if create.poll() is None:
            create.kill()
            create.wait()
    assert create.returncode == 0, err
    done = a.json(root, "ops", "show", op["id"])
    assert done["state"] == "succeeded"  # B's cancel did nothing
    assert a.ok(root, "vm", "exec", "a-boot", "--", "hostname").strip() == "a-boot"
    assert "Linux version" in a.ok(root, "vm", "logs", "a-boot")
    assert_hidden(b, host, ["vm", "logs", "a-boot"], "a-boot", "VM")
    assert_hidden(b, host, ["vm", "exec", "a-boot", "--", "hostname"], "a-boot", "VM")
    assert_hidden(b, host, ["vm", "stop", "a-boot", "--force"], "a-boot", "VM")
    assert a.json(root, "vm", "show", "a-boot")["state"] == "running"
    a.ok(root, "vm", "delete", "a-boot", "--force")


def test_a_shared_image_is_usable_but_only_its_owner_may_change_it(host: SharedHost) -> None:
    share_defaults(host)
    root, b = host.daemon, host.b
    made = b.json(root, "vm", "create", "--name", "b-from-shared", "--image", "deb", "--no-start")
    assert made["owner_uid"] == b.uid and made["image"] == "deb"
    for args, verb in (
        (["image", "delete", "deb"], "delete"),
        (["image", "unshare", "deb"], "unshare"),
        (["image", "share", "deb"], "share"),
        (["image", "promote", "deb"], "promote"),
        (["kernel", "delete", "debian"], "delete"),
        (["kernel", "unshare", "debian"], "unshare"),
    ):
        line = refused(b.cli(root, *args), f"only its owner or an admin may {verb} it")
        assert "shared with you but belongs to another user" in line
    image = json.loads(root.cli("image", "show", "deb", "--json", check=True).stdout)
    kernel = json.loads(root.cli("kernel", "show", "debian", "--json", check=True).stdout)
    assert image["shared"] and kernel["shared"] and not image["managed"]
    # Its owner may not delete it either while B's VM uses it (root may see that VM's name).
    refused(root.cli("image", "delete", "deb"), "image 'deb' is used by VM(s): b-from-shared")
    b.ok(root, "vm", "delete", "b-from-shared")


def test_a_members_unshared_image_is_invisible_to_others(host: SharedHost) -> None:
    share_defaults(host)
    root, a, b = host.daemon, host.a, host.b
    rootfs = small_ext4(a.home / "a.ext4", a)
    a.ok(root, "image", "register", "--name", "a-img", "--rootfs", str(rootfs),
         "--kernel-ref", "debian")  # fmt: skip
    shown = a.json(root, "image", "show", "a-img")
    assert (shown["owner"], shown["shared"]) == (a.name, False)
    assert "a-img" not in names(b, host, "image")
    for args in (
        ["image", "show", "a-img"],
        ["image", "show", shown["id"]],
        ["image", "delete", "a-img"],
        ["image", "share", "a-img"],
        ["image", "unshare", "a-img"],
        ["image", "promote", "a-img"],
        ["vm", "create", "--image", "a-img", "--no-start"],
        ["image", "build", "--from-image", "a-img", "--name", "b-img", "--run", "true"],
    ):
        target = shown["id"] if shown["id"] in args else "a-img"
        assert_hidden(b, host, args, target, "image")

    a.ok(root, "image", "share", "a-img")
    assert b.json(root, "image", "show", "a-img")["owner"] == a.name
    refused(b.cli(root, "image", "delete", "a-img"), "only its owner or an admin may delete it")
    b.ok(root, "vm", "create", "--name", "b-on-a-img", "--image", "a-img", "--no-start")
    # A learns that someone uses the image, not who or under which name.
    line = refused(a.cli(root, "image", "delete", "a-img"), "used by VM(s): 1 of other users")
    assert "b-on-a-img" not in line and b.name not in line
    a.ok(root, "image", "unshare", "a-img")
    assert_hidden(b, host, ["image", "show", "a-img"], "a-img", "image")
    assert b.json(root, "vm", "show", "b-on-a-img")["image"] == "a-img"  # B's VM stays
    b.ok(root, "vm", "delete", "b-on-a-img")
    a.ok(root, "image", "delete", "a-img")


def test_root_and_admins_see_and_act_on_everything(host: SharedHost) -> None:
    share_defaults(host)
    root, a, b, admin = host.daemon, host.a, host.b, host.admin
    a.ok(root, "vm", "create", "--name", "a-seen", "--image", "deb", "--no-start")
    b.ok(root, "vm", "create", "--name", "b-seen", "--image", "deb", "--no-start")
    rootfs = small_ext4(a.home / "secret.ext4", a)
    a.ok(root, "image", "register", "--name", "a-secret", "--rootfs", str(rootfs),
         "--kernel-ref", "debian")  # fmt: skip
    a_op = op_of(a, host, "vm.create", "a-seen")["id"]

    def as_root(*verb: str) -> list[dict]:  # type: ignore[type-arg]
        return list(json.loads(root.cli("--json", *verb, check=True).stdout))

    for viewer, listed in (("root", as_root), ("admin", lambda *verb: admin.json(root, *verb))):
        owners = {v["name"]: v["owner"] for v in listed("vm", "list")}
        assert owners["a-seen"] == a.name and owners["b-seen"] == b.name, viewer
        assert "a-secret" in [i["name"] for i in listed("image", "list")], viewer
        assert a_op in [o["id"] for o in listed("ops", "list")], viewer
    assert "a-seen" not in names(b, host, "vm") and "b-seen" not in names(a, host, "vm")

    # The admin acts on others' objects; B's list no longer has the VM the admin deleted.
    assert admin.json(root, "vm", "show", "a-seen")["owner_uid"] == a.uid
    admin.ok(root, "vm", "delete", "b-seen")
    assert "b-seen" not in names(b, host, "vm")
    admin.ok(root, "image", "delete", "a-secret")
    root.cli("vm", "delete", "a-seen", check=True)
    # Host plumbing every user's VMs share is for admins only.
    status, body = b.request(root, "POST", "/network/teardown")
    assert status == 403 and "only root or an admin" in body["message"], body


def test_a_members_pulled_kernel_is_theirs_alone(host: SharedHost, registry) -> None:  # type: ignore[no-untyped-def]
    """`kernel pull` as a member: the kernel and its operation are theirs, hidden from B
    (show, publish), and root sees it; the registry is reached without root's login."""
    root, a, b = host.daemon, host.a, host.b
    ref = f"{registry.address}/kernels/owned:1"
    root.cli("kernel", "publish", "debian", ref, "--insecure", check=True)
    a.ok(root, "kernel", "pull", ref, "--insecure", "--name", "a-kernel")
    mine = a.json(root, "kernel", "show", "a-kernel")
    assert mine["owner_uid"] == a.uid and mine["digest"].startswith("sha256:")
    assert op_of(a, host, "kernel.pull", "a-kernel")["owner_uid"] == a.uid
    assert_hidden(b, host, ["kernel", "show", "a-kernel"], "a-kernel", "kernel")
    elsewhere = f"{registry.address}/stolen/k:1"
    assert_hidden(b, host, ["kernel", "publish", "a-kernel", elsewhere, "--insecure"],
                  "a-kernel", "kernel")  # fmt: skip
    listed = json.loads(root.cli("--json", "kernel", "list", check=True).stdout)
    assert {k["name"]: k["owner_uid"] for k in listed}["a-kernel"] == a.uid
    a.ok(root, "kernel", "delete", "a-kernel")
