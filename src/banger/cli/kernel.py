"""`banger kernel import|fetch|pull|publish|list|show|share|unshare|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from banger.cli.common import host_path, run_operation
from banger.cli.context import JSON_OPTION, state, wants_json
from banger.cli.output import print_fields, print_json, print_table

if TYPE_CHECKING:
    from banger.api.models import Kernel

app = typer.Typer(help="Guest kernels: import a distro kernel or file, or fetch Debian's.")


def _kernel(data: Any) -> Kernel:
    from banger.api.models import Kernel  # pydantic: in the verbs that use it, not at import

    return Kernel.model_validate(data)


def _summary(k: Kernel) -> dict[str, object]:
    return {
        "name": k.name,
        "owner": k.owner,
        "shared": "yes" if k.shared else "no",
        "version": k.version,
        "arch": k.arch,
        "initrd": "generated" if k.initrd_generated else ("yes" if "initrd" in k.files else "no"),
        "created": k.created_at.strftime("%F %T"),
        "source": k.source or "",
        # A pulled kernel's manifest digest, shortened like docker's image ids.
        "digest": k.digest[:19] if k.digest else "",
    }


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., help=".deb kernel package, unpacked tree, vmlinux or bzImage"
    ),
    name: str = typer.Option(..., "--name", help="name for the kernel (DNS label)"),
    modules: Path | None = typer.Option(None, "--modules", help="modules tree for a bare kernel"),
    initrd: Path | None = typer.Option(None, "--initrd", help="initrd to use as is"),
    json: bool = JSON_OPTION,
) -> None:
    """Import a kernel into banger's storage (ELF vmlinux extracted, initrd generated)."""
    result = run_operation(
        ctx,
        "/kernels/import",
        {
            "name": name,
            "source": host_path(source),
            "modules_dir": host_path(modules),
            "initrd": host_path(initrd),
        },
        as_json=wants_json(ctx, json),
    )
    if not wants_json(ctx, json):
        typer.echo(f"kernel {result['name']} imported: {result['version']} ({result['arch']})")


@app.command()
def fetch(
    ctx: typer.Context,
    distro: str = typer.Argument("debian", help="only 'debian' (its cloud kernel) for now"),
    name: str | None = typer.Option(None, "--name", help="name for the kernel (default: distro)"),
    json: bool = JSON_OPTION,
) -> None:
    """Download the distribution's current cloud kernel with apt and import it."""
    result = run_operation(
        ctx, "/kernels/fetch", {"distro": distro, "name": name}, as_json=wants_json(ctx, json)
    )
    if not wants_json(ctx, json):
        typer.echo(f"kernel {result['name']} imported: {result['version']} ({result['arch']})")


def _docker_config() -> str | None:
    """The caller's docker config, read by the daemon as them (as `image pull` does)."""
    path = Path.home() / ".docker" / "config.json"
    return str(path) if path.is_file() else None


@app.command()
def pull(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="e.g. 127.0.0.1:5000/kernels/debian:6.1 or ...@sha256:"),
    name: str | None = typer.Option(None, "--name", help="default: from the reference"),
    platform: str = typer.Option("linux/amd64", "--platform", help="from a multi-arch index"),
    insecure: bool = typer.Option(False, "--insecure", help="plain HTTP to this registry"),
    json: bool = JSON_OPTION,
) -> None:
    """Pull a catalog kernel (or an ignite-style kernel image) and import it as yours."""
    body = {
        "ref": ref,
        "name": name,
        "platform": platform,
        "insecure": insecure,
        "docker_config": _docker_config(),
    }
    result = run_operation(ctx, "/kernels/pull", body, as_json=wants_json(ctx, json))
    if not wants_json(ctx, json):
        typer.echo(
            f"kernel {result['name']} pulled: {result['version']} ({result['arch']}) "
            f"{result['digest']}"
        )


@app.command()
def publish(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the kernel to publish"),
    ref: str = typer.Argument(..., help="registry/repository:tag to push to"),
    insecure: bool = typer.Option(False, "--insecure", help="plain HTTP to this registry"),
    json: bool = JSON_OPTION,
) -> None:
    """Push a kernel to any OCI registry as a catalog artifact; prints its digest."""
    body = {"ref": ref, "insecure": insecure, "docker_config": _docker_config()}
    result = run_operation(ctx, f"/kernels/{name}/publish", body, as_json=wants_json(ctx, json))
    if not wants_json(ctx, json):
        typer.echo(f"{result['ref']}@{result['digest']}")


@app.command("list")
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List kernels."""
    kernels = [_kernel(k) for k in state(ctx).client.get("/kernels")]
    if wants_json(ctx, json):
        print_json(kernels)
    else:
        print_table(
            [_summary(k) for k in kernels],
            ["name", "owner", "shared", "version", "arch", "initrd", "created", "source", "digest"],
            empty="no kernels (get one: banger kernel fetch debian)",
        )


@app.command()
def show(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Show a kernel, with the host paths of its files and its built-in features."""
    kernel = _kernel(state(ctx).client.get(f"/kernels/{name}"))
    if wants_json(ctx, json):
        print_json(kernel)
    else:
        print_fields(
            {
                **_summary(kernel),
                "id": kernel.id,
                "source": kernel.source,
                "digest": kernel.digest or "",
                "files": kernel.files,
                "features": kernel.features,
            }
        )


@app.command()
def share(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Let every banger user list, show and boot your kernel (--kernel-ref; not change it)."""
    kernel = _kernel(state(ctx).client.post(f"/kernels/{name}/share"))
    print_json(kernel) if wants_json(ctx, json) else typer.echo(f"kernel {kernel.name} shared")


@app.command()
def unshare(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Make a kernel yours alone again (images others made with it keep booting)."""
    kernel = _kernel(state(ctx).client.post(f"/kernels/{name}/unshare"))
    print_json(kernel) if wants_json(ctx, json) else typer.echo(f"kernel {kernel.name} unshared")


@app.command()
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a kernel (refused while an image uses it)."""
    state(ctx).client.delete(f"/kernels/{name}")
    typer.echo(f"kernel {name} deleted")
