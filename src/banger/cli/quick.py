"""Quick verbs run without typer's parser: version, list/show, vm ssh/exec, and help.

typer 0.29 builds a pydantic validator for each parameter of a command line it parses:
~100 ms of imports and set-up before any verb runs, most of the 150 ms a quick verb may
take (bench/cli). These verbs only read (their bodies are cli.views) or run ssh (cli.ssh),
and their command lines are plain, so `main` offers every command line to `run` first: a
plain one (root options --json, --config, --socket; the verb's words; its positional
arguments; then --json, or for ssh/exec `-- CMD...`) runs its body here. Anything else
(another flag, a typo, shell completion) goes to typer untouched, which owns usage errors.
The typer verbs call the same bodies, so each exists once. `--help` after plain words
prints typer's own help, rendered from its command tree without parsing.

A verb belongs in VERBS only if it changes nothing in the daemon, takes no option but
--json (or a `-- CMD` tail), and its body needs neither typer nor pydantic
(docs/ARCHITECTURE.md, the cli row).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from banger.cli import ssh, views
from banger.cli.state import CliState

_ROOT_VALUE_OPTIONS = {"--config": "config_path", "--socket": "socket_override"}


@dataclass(frozen=True)
class _Verb:
    words: tuple[str, ...]
    arity: int  # positional arguments after the words
    body: Callable[..., int | None]  # (state, *arguments, as_json=...) or (..., command)
    command: bool = False  # takes `-- CMD...` (and no --json); the body returns an exit code


VERBS = (
    _Verb(("version",), 0, views.version),
    _Verb(("vm", "list"), 0, views.vm_list),
    _Verb(("vm", "show"), 1, views.vm_show),
    _Verb(("image", "list"), 0, views.image_list),
    _Verb(("image", "show"), 1, views.image_show),
    _Verb(("ops", "list"), 0, views.ops_list),
    _Verb(("ops", "show"), 1, views.ops_show),
    _Verb(("vm", "ssh"), 1, ssh.ssh_into, command=True),
    _Verb(("vm", "exec"), 1, ssh.exec_in, command=True),
)


def _root_options(argv: list[str]) -> tuple[CliState, list[str]] | None:
    """The root options as typer would read them, and the words after; None: not plain."""
    st, rest, seen = CliState(), list(argv), set()
    while rest and rest[0].startswith("-") and rest[0] != "--help":
        name, eq, value = rest.pop(0).partition("=")
        if name in seen:
            return None
        seen.add(name)
        if name == "--json" and not eq:
            st.json = True
        elif name in _ROOT_VALUE_OPTIONS:
            if not eq:
                if not rest:
                    return None
                value = rest.pop(0)
            if not value:
                return None
            setattr(st, _ROOT_VALUE_OPTIONS[name], Path(value))
        else:
            return None
    return st, rest


def show_help(words: list[str]) -> None:
    """typer's help for `banger WORDS... --help`, without parsing the root options (which
    builds a pydantic validator for each); a word that is no command: typer says so."""
    import typer
    from typer.main import get_command

    from banger.cli.app import app

    command = get_command(app)
    ctx = typer.Context(command, info_name="banger")
    for word in words:
        sub = command.get_command(ctx, word) if hasattr(command, "get_command") else None
        if sub is None:
            app()
            return
        command, ctx = sub, typer.Context(sub, info_name=word, parent=ctx)
    print(ctx.get_help())


def match(argv: list[str]) -> Callable[[], int | None] | None:
    """The call that runs `argv`, if it is a quick verb's plain command line."""
    parsed = _root_options(argv)
    if parsed is None:
        return None
    st, rest = parsed
    if rest[-1:] == ["--help"] and not any(w.startswith("-") for w in rest[:-1]):
        return partial(show_help, rest[:-1])
    for verb in VERBS:
        if tuple(rest[: len(verb.words)]) != verb.words:
            continue
        tail = rest[len(verb.words) :]
        if verb.command:
            cut = tail.index("--") if "--" in tail else len(tail)
            arguments, command = tail[:cut], tail[cut + 1 :]
        else:
            arguments = [word for word in tail if word != "--json"]
        if len(arguments) != verb.arity or any(a.startswith("-") for a in arguments):
            return None
        if verb.command:
            return partial(verb.body, st, *arguments, command)
        return partial(verb.body, st, *arguments, as_json=st.json or "--json" in tail)
    return None


def run(argv: list[str]) -> bool:
    """Run `argv` here when it is a quick verb's plain command line; False: typer's turn."""
    call = None if "_BANGER_COMPLETE" in os.environ else match(argv)
    if call is None:
        return False
    try:
        code = call()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): exit 1 without a traceback, as click does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if code:
        sys.exit(code)
    return True
