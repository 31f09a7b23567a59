"""`banger image build`: flags or a build file → POST /images/build → follow it live.

A failing step makes the CLI exit with that step's exit code (1 is banger's own failure).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from banger.cli.common import run_operation
from banger.cli.context import JSON_OPTION, wants_json
from banger.cli.output import print_error
from banger.errors import InvalidArgument, StepFailed

if TYPE_CHECKING:
    from banger.api.requests import BuildStep

STEP_FLAGS = ("--run", "--script", "--copy")


def step_order(argv: list[str]) -> list[str]:
    """The step flags in the order they were typed (click groups values per option)."""
    kinds = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--":
            break
        flag = token.split("=", 1)[0]
        if flag in STEP_FLAGS:
            kinds.append(flag[2:])
            skip = "=" not in token
    return kinds


def ordered_steps(
    runs: list[str], scripts: list[Path], copies: list[str], argv: list[str]
) -> list[BuildStep]:
    from banger.api.buildfile import script_step, split_copy
    from banger.api.requests import BuildStep

    by_kind: dict[str, list[BuildStep]] = {
        "run": [BuildStep(kind="run", text=text) for text in runs],
        "script": [script_step(path.expanduser()) for path in scripts],
        "copy": [split_copy(spec, Path.cwd()) for spec in copies],
    }
    used = [kind for kind, steps in by_kind.items() if steps]
    if len(used) <= 1:
        return by_kind[used[0]] if used else []
    order = step_order(argv)
    if sorted(order) != sorted(k for k, steps in by_kind.items() for _ in steps):
        raise InvalidArgument(
            "cannot tell the order of the --run/--script/--copy steps",
            hint="write the steps into a build file and use -f FILE",
        )
    cursor = dict.fromkeys(by_kind, 0)
    ordered = []
    for kind in order:
        ordered.append(by_kind[kind][cursor[kind]])
        cursor[kind] += 1
    return ordered


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidArgument(f"--env {pair[:40]!r} is not K=V", hint="e.g. --env APP_ENV=prod")
        env[key] = value
    return env


def build(
    ctx: typer.Context,
    from_image: str | None = typer.Option(None, "--from-image", help="the base image"),
    name: str | None = typer.Option(None, "--name", help="the new image's name"),
    run: list[str] = typer.Option([], "--run", help="a shell command step (repeatable)"),
    script: list[Path] = typer.Option([], "--script", help="a script file step (repeatable)"),
    copy: list[str] = typer.Option([], "--copy", help="SRC:DST, host file/dir into the image"),
    env: list[str] = typer.Option([], "--env", help="K=V for every step (repeatable)"),
    size: str | None = typer.Option(None, "--size", help="exact rootfs size, e.g. 4G"),
    free: str | None = typer.Option(None, "--free", help="free space to leave, e.g. 512M"),
    kernel_ref: str | None = typer.Option(None, "--kernel-ref", help="kernel to boot and record"),
    cpus: int | None = typer.Option(None, "--cpus", help="builder vCPUs"),
    memory: str | None = typer.Option(None, "--memory", help="builder memory, e.g. 1G"),
    timeout: int | None = typer.Option(
        None, "--timeout", help="seconds for the whole builder run (default 7200)"
    ),
    via: str | None = typer.Option(
        None, "--via", help="auto (default), ssh or console: how steps reach the builder"
    ),
    file: Path | None = typer.Option(None, "-f", "--file", help="a banger-build.toml"),
    json: bool = JSON_OPTION,
) -> None:
    """Derive a new managed image by running steps as root inside a builder VM.

    Steps run in the order given. With -f, the flags --name/--from-image/--size/--free/
    --kernel-ref/--cpus/--memory/--timeout/--via override the file and --env adds to its
    env; step flags are refused.
    """
    if size is not None and free is not None:
        raise InvalidArgument("give at most one of --size and --free", hint="pick one")
    from banger.api.buildfile import CLI_FLAGS, build_request, load_build_file, parse_size_mib

    overrides: dict[str, Any] = {
        "from_image": from_image,
        "name": name,
        "size_mib": parse_size_mib(size, "--size") if size else None,
        "free_mib": parse_size_mib(free, "--free") if free is not None else None,
        "kernel_ref": kernel_ref,
        "cpus": cpus,
        "memory_mib": parse_size_mib(memory, "--memory") if memory else None,
        "via": via,
        "timeout_s": timeout,
    }
    if file is not None:
        if run or script or copy:
            raise InvalidArgument(
                "--run/--script/--copy cannot be combined with -f",
                hint="put every step into the build file",
            )
        request = load_build_file(file.expanduser().absolute(), overrides)
        request.env.update(parse_env(env))
    else:
        steps = ordered_steps(run, script, copy, sys.argv[1:])
        if not from_image or not name or not steps:
            raise InvalidArgument(
                "--from-image, --name and at least one step are needed",
                hint="e.g. banger image build --from-image debian-12 --name tools "
                "--run 'apt-get install -y curl', or -f banger-build.toml",
            )
        body = {**overrides, "steps": steps, "env": parse_env(env)}
        request = build_request(
            {k: v for k, v in body.items() if v is not None}, "image build", CLI_FLAGS
        )
    as_json = wants_json(ctx, json)
    try:
        result = run_operation(
            ctx, "/images/build", request.model_dump(mode="json"), as_json=as_json
        )
    except StepFailed as exc:
        print_error(exc.one_line())
        raise typer.Exit(exc.exit_code) from None
    if not as_json:
        typer.echo(f"image {result['name']} built")
