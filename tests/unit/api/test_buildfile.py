"""banger-build.toml parsing, CLI step ordering and size parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from banger.api.buildfile import (
    CLI_FLAGS,
    build_request,
    load_build_file,
    parse_size_mib,
    split_copy,
)
from banger.cli.image_build import ordered_steps, parse_env, step_order
from banger.errors import InvalidArgument


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "banger-build.toml"
    path.write_text(text)
    return path


def test_full_build_file(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text("echo setup\n")
    path = write(
        tmp_path,
        'from = "debian-12"\nname = "tools"\nfree = "512M"\ncpus = 2\nmemory = "1G"\n'
        'env = { APP_ENV = "prod" }\n'
        '[[step]]\nrun = "apt-get update"\n'
        '[[step]]\ncopy = "files/app.conf:/etc/app/app.conf"\n'
        '[[step]]\nscript = "scripts/setup.sh"\n',
    )
    req = load_build_file(path)
    assert (req.from_image, req.name, req.free_mib, req.cpus, req.memory_mib) == (
        "debian-12", "tools", 512, 2, 1024,
    )  # fmt: skip
    assert [s.kind for s in req.steps] == ["run", "copy", "script"]
    assert req.steps[1].src == str(tmp_path / "files" / "app.conf")
    assert req.steps[1].dst == "/etc/app/app.conf"
    assert req.steps[2].text == "echo setup\n" and req.steps[2].name == "setup.sh"
    assert req.env == {"APP_ENV": "prod"}


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'from = "a"\nname = "b"\nfree = 10\n[[step]]\nrun = "x"\n')
    req = load_build_file(path, {"name": "c", "size_mib": 2048})
    assert (req.name, req.size_mib, req.free_mib) == ("c", 2048, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('from = "a"\nname = "b"\n[[step]]\nrun = "x"\nbogus = 1\n', "bogus"),
        ('from = "a"\nname = "b"\n[[step]]\nrun = "x"\ncopy = "a:/b"\n', "exactly one"),
        ('from = "a"\nname = "b"\n', "step"),
        ('name = "b"\n[[step]]\nrun = "x"\n', "from"),
        ('from = "a"\nname = "B@d"\n[[step]]\nrun = "x"\n', "name"),
        ('from = "a"\nname = "b"\nenv = { "1BAD" = "v" }\n[[step]]\nrun = "x"\n', "1BAD"),
        ('from = "a"\nname = "b"\n[[step]]\nscript = "missing.sh"\n', "missing.sh"),
        ('from = "a"\nname = "b"\n[[step]]\ncopy = "nodst"\n', "SRC:DST"),
        ('from = "a"\nname = "b"\nsize = "lots"\n[[step]]\nrun = "x"\n', "size"),
        ("from = \n", "TOML"),
    ],
)
def test_errors_are_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidArgument) as caught:
        load_build_file(path)
    message = caught.value.message
    assert str(path) in message and expected in message
    assert "\n" not in message.strip() or "TOML" in message


def test_sizes() -> None:
    assert parse_size_mib("512M", "x") == 512
    assert parse_size_mib("2G", "x") == 2048
    assert parse_size_mib("1.5GiB", "x") == 1536
    assert parse_size_mib("100", "x") == 100
    assert parse_size_mib("1K", "x") == 1
    with pytest.raises(InvalidArgument):
        parse_size_mib("-1G", "x")


def test_copy_split_at_colon_slash(tmp_path: Path) -> None:
    step = split_copy("weird:name.txt:/etc/x:y", tmp_path)
    assert step.src == str(tmp_path / "weird:name.txt") and step.dst == "/etc/x:y"


def test_step_order_follows_the_command_line(tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("echo s\n")
    argv = ["image", "build", "--run", "a", "--copy", f"{tmp_path}:/x", f"--script={script}",
            "--env", "--run", "--run=b"]  # fmt: skip
    assert step_order(argv) == ["run", "copy", "script", "run"]
    steps = ordered_steps(["a", "b"], [script], [f"{tmp_path}:/x"], argv)
    assert [(s.kind, s.text or s.dst) for s in steps] == [
        ("run", "a"), ("copy", "/x"), ("script", "echo s\n"), ("run", "b"),
    ]  # fmt: skip


def test_unknowable_order_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="order"):
        ordered_steps(["a"], [], [f"{tmp_path}:/x"], [])


def test_env_pairs() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(InvalidArgument):
        parse_env(["novalue"])


def test_errors_name_the_field_as_the_user_spelled_it(tmp_path: Path) -> None:
    text = 'from = "a"\nname = "b"\ntimeout = 3\nvia = "ssh"\n[[step]]\nrun = "x"\n'
    path = write(tmp_path, text)
    with pytest.raises(InvalidArgument, match=r"banger-build.toml: invalid timeout: .*10"):
        load_build_file(path)
    body = {"from_image": "a", "name": "b", "steps": [{"kind": "run", "text": "x"}]}
    with pytest.raises(InvalidArgument, match=r"^image build: invalid --timeout: "):
        build_request({**body, "timeout_s": 5}, "image build", CLI_FLAGS)
    with pytest.raises(InvalidArgument, match=r"invalid --name '\.\./x': use 1-63 lower-case"):
        build_request({**body, "name": "../x"}, "image build", CLI_FLAGS)
    with pytest.raises(InvalidArgument, match=r"invalid --via: "):
        build_request({**body, "via": "telnet"}, "image build", CLI_FLAGS)
    assert build_request({**body, "via": "console"}, "image build", CLI_FLAGS).via == "console"
    assert load_build_file(write(tmp_path, text.replace("= 3", "= 30"))).via == "ssh"
