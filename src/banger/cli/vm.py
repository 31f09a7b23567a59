"""`banger vm create|start|stop|restart|delete|list|show|logs|ssh|exec|cp`.

`list`, `show`, `ssh` and `exec` are quick verbs (their bodies are cli.views and cli.ssh,
on the daemon's JSON); `cp` validates the daemon's answer into the `VM` model.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from banger import proc
from banger.cli import ssh, views
from banger.cli.common import run_operation
from banger.cli.context import JSON_OPTION, state, wants_json
from banger.errors import InvalidArgument

if TYPE_CHECKING:
    from banger.api.models import VM

app = typer.Typer(help="MicroVMs: create, use over ssh, stop, delete.")


def _get(ctx: typer.Context, name: str) -> VM:
    from banger.api.models import VM

    return VM.model_validate(state(ctx).client.get(f"/vms/{name}"))


def _report(ctx: typer.Context, as_json: bool, result: dict[str, Any], verb: str) -> None:
    if not as_json:
        ip = result.get("ip")
        typer.echo(f"VM {result['name']} {verb}" + (f" at {ip}" if ip else ""))


def _lifecycle(
    ctx: typer.Context,
    name: str,
    verb: str,
    flags: dict[str, bool],
    json_flag: bool,
    state_word: str,
) -> None:
    """POST /vms/NAME/VERB as a followed operation, then say what state the VM is in."""
    as_json = wants_json(ctx, json_flag)
    query = "&".join(f"{key}={str(value).lower()}" for key, value in flags.items())
    result = run_operation(ctx, f"/vms/{name}/{verb}?{query}", {}, as_json=as_json)
    _report(ctx, as_json, result, state_word)


@app.command()
def create(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="DNS label; default: generated"),
    image: str | None = typer.Option(None, "--image", help="default: default_image_name"),
    cpus: int | None = typer.Option(None, "--cpus"),
    memory: str | None = typer.Option(None, "--memory", help="e.g. 1G, 512M (bare: MiB)"),
    disk_size: str | None = typer.Option(
        None, "--disk-size", help="root disk size, e.g. 8G (bare: MiB)"
    ),
    backend: str | None = typer.Option(None, "--backend", help="qemu or firecracker"),
    no_start: bool = typer.Option(False, "--no-start", help="create without booting"),
    wait: bool = typer.Option(False, "--wait", help="return once sshd answers"),
    json: bool = JSON_OPTION,
) -> None:
    """Create (and boot) a VM from an image."""
    from banger.api.buildfile import parse_size_mib

    st = state(ctx)
    key = ssh.ensure_key(st.config)
    body = {
        "name": name,
        "image": image or st.config.default_image_name,
        "cpus": cpus,
        "memory_mib": parse_size_mib(memory, "--memory") if memory else None,
        "disk_size_mib": parse_size_mib(disk_size, "--disk-size") if disk_size else None,
        "backend": backend,
        "start": not no_start,
        "wait": wait,
        "ssh_public_key": ssh.public_key(key),
    }
    result = run_operation(ctx, "/vms", body, as_json=wants_json(ctx, json))
    _report(ctx, wants_json(ctx, json), result, "created" if no_start else "running")


@app.command()
def start(
    ctx: typer.Context,
    name: str,
    wait: bool = typer.Option(False, "--wait"),
    json: bool = JSON_OPTION,
) -> None:
    """Boot a stopped VM (its disk keeps its contents)."""
    _lifecycle(ctx, name, "start", {"wait": wait}, json, "running")


@app.command()
def stop(
    ctx: typer.Context,
    name: str,
    force: bool = typer.Option(False, "--force", help="kill instead of shutting down"),
    json: bool = JSON_OPTION,
) -> None:
    """Shut a VM down (ACPI power button, then signals after a timeout)."""
    _lifecycle(ctx, name, "stop", {"force": force}, json, "stopped")


@app.command()
def restart(
    ctx: typer.Context,
    name: str,
    wait: bool = typer.Option(False, "--wait"),
    json: bool = JSON_OPTION,
) -> None:
    """Stop and start a VM."""
    _lifecycle(ctx, name, "restart", {"wait": wait}, json, "running")


@app.command()
def delete(
    ctx: typer.Context,
    name: str,
    force: bool = typer.Option(False, "--force", help="delete even if running"),
) -> None:
    """Delete a VM and everything it had on the host."""
    state(ctx).client.delete(f"/vms/{name}", force=str(force).lower())
    typer.echo(f"VM {name} deleted")


@app.command("list")
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List VMs."""
    views.vm_list(state(ctx), as_json=wants_json(ctx, json))


@app.command()
def show(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Show a VM: state (as recorded; the daemon's monitor notices a dead VMM within a second),
    backend, disk strategy, address, process."""
    views.vm_show(state(ctx), name, as_json=wants_json(ctx, json))


@app.command()
def logs(
    ctx: typer.Context,
    name: str,
    follow: bool = typer.Option(False, "-f", "--follow", help="keep printing while it runs"),
) -> None:
    """Print the VM's serial console."""
    for chunk in state(ctx).client.console(name, follow=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ssh_(ctx: typer.Context, name: str) -> None:
    """Open a shell in the VM, or run `-- CMD...` (execs the system ssh)."""
    ssh.ssh_into(state(ctx), name, list(ctx.args))


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(ctx: typer.Context, name: str) -> None:
    """Run `-- CMD...` in the VM; exit with its exit code."""
    raise typer.Exit(ssh.exec_in(state(ctx), name, list(ctx.args)))


@app.command()
def cp(ctx: typer.Context, src: str, dst: str) -> None:
    """Copy files to or from a VM: `banger vm cp ./f NAME:/root/` or `NAME:/etc/os-release .`."""
    remote = [p for p in (src, dst) if ":" in p and not p.startswith(("/", "."))]
    if len(remote) != 1:
        raise InvalidArgument(
            "exactly one of SRC and DST must be NAME:/path",
            hint="e.g. banger vm cp notes.txt dev:/root/",
        )
    name, path = remote[0].split(":", 1)
    vm = _get(ctx, name)
    target = f"root@{vm.ip}:{path}"
    argv = ssh.scp_argv(
        vm,
        ssh.ensure_key(state(ctx).config),
        target if src == remote[0] else src,
        target if dst == remote[0] else dst,
    )
    # scp's own target syntax needs the host key alias, which the options above carry.
    raise typer.Exit(proc.run_attached(argv))
