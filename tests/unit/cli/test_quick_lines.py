"""Which command lines cli.quick runs itself, and with what; every other one is typer's."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from banger.cli import quick, ssh, views


def _call(argv: list[str]) -> partial[None]:
    call = quick.match(argv)
    assert isinstance(call, partial), argv
    return call


@pytest.mark.parametrize(
    ("argv", "body", "arguments", "as_json"),
    [
        (["version"], views.version, (), False),
        (["--json", "version"], views.version, (), True),
        (["vm", "list"], views.vm_list, (), False),
        (["vm", "list", "--json"], views.vm_list, (), True),
        (["--json", "vm", "list"], views.vm_list, (), True),
        (["vm", "show", "dev"], views.vm_show, ("dev",), False),
        (["vm", "show", "--json", "dev"], views.vm_show, ("dev",), True),
        (["--socket", "/s", "--config=/c", "vm", "show", "dev", "--json"], views.vm_show,
         ("dev",), True),
    ],
)  # fmt: skip
def test_plain_lines_run_here(
    argv: list[str], body: object, arguments: tuple[str, ...], as_json: bool
) -> None:
    call = _call(argv)
    st = call.args[0]
    assert call.func is body and call.args[1:] == arguments
    assert call.keywords == {"as_json": as_json}
    if "--socket" in argv:
        assert (st.socket_override, st.config_path) == (Path("/s"), Path("/c"))


@pytest.mark.parametrize(
    "argv",
    [
        [],  # typer prints the help
        ["vm"],
        ["vm", "list", "--bogus"],
        ["vm", "list", "extra"],
        ["vm", "show"],  # NAME missing: typer's usage error
        ["vm", "show", "a", "b"],
        ["vm", "show", "-x"],
        ["vm", "show", "--", "dev"],
        ["vm", "--json", "list"],  # the vm group has no --json
        ["--json=1", "vm", "list"],  # a flag takes no value
        ["--socket", "/a", "--socket", "/b", "vm", "list"],
        ["--socket"],
        ["--config=", "vm", "list"],
        ["--verbose", "vm", "list"],
        ["vm", "exec", "dev", "true"],  # a command without `--`: typer's reading
        ["vm", "exec", "--json", "dev", "--", "true"],
        ["vm", "ssh", "-v", "dev"],
        ["kernel", "list"],  # not (yet) a quick verb
        ["image", "list", "--all"],
        ["vm", "--help", "list"],
    ],
)
def test_other_lines_are_typers(argv: list[str]) -> None:
    assert quick.match(argv) is None


@pytest.mark.parametrize(
    ("argv", "body", "arguments"),
    [
        (
            ["vm", "exec", "dev", "--", "sh", "-c", "exit 7"],
            ssh.exec_in,
            ("dev", ["sh", "-c", "exit 7"]),
        ),
        (["vm", "exec", "dev"], ssh.exec_in, ("dev", [])),  # its body says: no command given
        (["vm", "ssh", "dev"], ssh.ssh_into, ("dev", [])),
        (["vm", "ssh", "dev", "--", "--", "x"], ssh.ssh_into, ("dev", ["--", "x"])),
    ],
)
def test_ssh_and_exec_take_the_command_after_the_dashes(
    argv: list[str], body: object, arguments: tuple[object, ...]
) -> None:
    call = _call(argv)
    assert call.func is body and call.args[1:] == arguments and not call.keywords


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--help"], []), (["vm", "--help"], ["vm"]), (["--json", "vm", "list", "--help"],
     ["vm", "list"])],
)  # fmt: skip
def test_help_after_plain_words_is_rendered_here(argv: list[str], words: list[str]) -> None:
    call = _call(argv)
    assert call.func is quick.show_help and call.args == (words,)


def test_completion_is_always_typers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_BANGER_COMPLETE", "complete_bash")
    assert quick.run(["vm", "list"]) is False


@pytest.mark.parametrize("words", [[], ["vm"], ["vm", "exec"], ["image", "build"], ["version"]])
def test_the_help_rendered_here_is_typers_own(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from banger.cli.app import app

    with pytest.raises(SystemExit) as done:
        app(args=[*words, "--help"], prog_name="banger")
    typers = capsys.readouterr().out
    assert done.value.code == 0 and typers.startswith("Usage: banger")
    quick.show_help(words)
    assert capsys.readouterr().out == typers
