"""`banger image register|promote|bootstrap|pull|build|list|show|share|unshare|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from banger.cli import views
from banger.cli.common import host_path, run_operation
from banger.cli.context import JSON_OPTION, state, wants_json
from banger.cli.image_build import build
from banger.cli.output import print_json, print_table
from banger.errors import InvalidArgument

if TYPE_CHECKING:
    from banger.api.models import Image

app = typer.Typer(help="Images: complete boot sets (rootfs, kernel, initrd, work seed).")
app.command()(build)


def _image(data: Any) -> Image:
    from banger.api.models import Image  # pydantic: in the verbs that use it, not at import

    return Image.model_validate(data)


def _done(ctx: typer.Context, as_json: bool, result: dict[str, object], verb: str) -> None:
    if not as_json:
        typer.echo(f"image {result['name']} {verb}")


@app.command()
def register(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name"),
    rootfs: Path = typer.Option(..., "--rootfs", help="ext4 root filesystem image"),
    kernel_ref: str | None = typer.Option(None, "--kernel-ref", help="a managed kernel's name"),
    kernel_file: Path | None = typer.Option(
        None, "--kernel", help="a kernel file (vmlinux/bzImage)"
    ),
    initrd: Path | None = typer.Option(None, "--initrd"),
    modules: Path | None = typer.Option(None, "--modules"),
    work_seed: Path | None = typer.Option(None, "--work-seed", help="ext4 seed of the work disk"),
    json: bool = JSON_OPTION,
) -> None:
    """Register host files as an image: copied into banger's storage, read with your rights
    (root's stay in place, unmanaged, and are checked again at use)."""
    body = {
        "name": name,
        "rootfs": host_path(rootfs),
        "kernel_ref": kernel_ref,
        "kernel_file": host_path(kernel_file),
        "initrd": host_path(initrd),
        "modules": host_path(modules),
        "work_seed": host_path(work_seed),
    }
    image = _image(
        state(ctx).client.post("/images/register", {k: v for k, v in body.items() if v is not None})
    )
    print_json(image) if wants_json(ctx, json) else typer.echo(f"image {image.name} registered")


@app.command()
def promote(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Copy a registered image into banger's storage (the sources stay untouched)."""
    result = run_operation(ctx, f"/images/{name}/promote", {}, as_json=wants_json(ctx, json))
    _done(ctx, wants_json(ctx, json), result, "promoted")


@app.command()
def bootstrap(
    ctx: typer.Context,
    distro: str = typer.Argument("debian", help="only 'debian' for now"),
    name: str = typer.Option(..., "--name"),
    kernel_ref: str | None = typer.Option(None, "--kernel-ref"),
    suite: str = typer.Option("bookworm", "--suite"),
    free_mib: int | None = typer.Option(
        None, "--free-mib", help="free space to leave in the rootfs"
    ),
    package: list[str] = typer.Option([], "--package", help="extra Debian package (repeatable)"),
    json: bool = JSON_OPTION,
) -> None:
    """Build a Debian image with mmdebstrap (systemd, udev, openssh-server) and register it."""
    body = {
        "distro": distro,
        "name": name,
        "kernel_ref": kernel_ref,
        "suite": suite,
        "free_mib": free_mib,
        "packages": package,
    }
    result = run_operation(ctx, "/images/bootstrap", body, as_json=wants_json(ctx, json))
    _done(ctx, wants_json(ctx, json), result, "built")


@app.command("list")
def list_(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List images."""
    views.image_list(state(ctx), as_json=wants_json(ctx, json))


@app.command()
def show(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Show an image with the host paths of its boot set."""
    views.image_show(state(ctx), name, as_json=wants_json(ctx, json))


@app.command()
def share(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Let every banger user list, show, boot and build from your image (not change it)."""
    image = _image(state(ctx).client.post(f"/images/{name}/share"))
    print_json(image) if wants_json(ctx, json) else typer.echo(f"image {image.name} shared")


@app.command()
def unshare(ctx: typer.Context, name: str, json: bool = JSON_OPTION) -> None:
    """Make an image yours alone again (VMs others made from it keep working)."""
    image = _image(state(ctx).client.post(f"/images/{name}/unshare"))
    print_json(image) if wants_json(ctx, json) else typer.echo(f"image {image.name} unshared")


@app.command()
def delete(ctx: typer.Context, name: str) -> None:
    """Delete an image (refused while a VM uses it)."""
    state(ctx).client.delete(f"/images/{name}")
    typer.echo(f"image {name} deleted")


@app.command()
def pull(
    ctx: typer.Context,
    ref: str = typer.Argument(
        ..., help="e.g. debian:bookworm, ghcr.io/o/r@sha256:..., 127.0.0.1:5000/x:t"
    ),
    kernel_ref: str | None = typer.Option(None, "--kernel-ref", help="kernel to boot it with"),
    name: str | None = typer.Option(None, "--name", help="default: from the reference"),
    platform: str = typer.Option("linux/amd64", "--platform"),
    size: str | None = typer.Option(None, "--size", help="rootfs size, e.g. 2G (bare: MiB)"),
    free: str | None = typer.Option(
        None, "--free", help="free space on top of the content, e.g. 512M (bare: MiB)"
    ),
    insecure: bool = typer.Option(False, "--insecure", help="plain HTTP to this registry"),
    json: bool = JSON_OPTION,
) -> None:
    """Pull an OCI image from any registry into a bootable, correctly-owned image."""
    if size is not None and free is not None:
        raise InvalidArgument("--size and --free exclude each other", hint="give one of them")
    from banger.api.buildfile import parse_size_mib

    docker_config = Path.home() / ".docker" / "config.json"
    body = {
        "ref": ref,
        "kernel_ref": kernel_ref,
        "name": name,
        "platform": platform,
        "size_mib": parse_size_mib(size, "--size") if size else None,
        "free_mib": parse_size_mib(free, "--free") if free is not None else None,
        "insecure": insecure,
        "docker_config": str(docker_config) if docker_config.is_file() else None,
    }
    result = run_operation(ctx, "/images/pull", body, as_json=wants_json(ctx, json))
    _done(ctx, wants_json(ctx, json), result, "pulled")


cache_app = typer.Typer(help="The content-addressed blob cache of pulled layers.")
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
def cache_list(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """List cached blobs."""
    entries = state(ctx).client.get("/image-cache")
    if wants_json(ctx, json):
        print_json(entries)
        return
    rows = [{"digest": e["digest"], "size": f"{e['size'] / 2**20:.1f} MiB"} for e in entries]
    print_table(rows, ["digest", "size"], empty="the blob cache is empty")


@cache_app.command("prune")
def cache_prune(ctx: typer.Context) -> None:
    """Remove cached blobs no image was built from."""
    freed = state(ctx).client.post("/image-cache/prune")["freed_bytes"]
    typer.echo(f"freed {freed / 2**20:.1f} MiB")
