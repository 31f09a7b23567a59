"""The user's config: checked by hand (no pydantic: every CLI command reads it), with the
same one-line errors as the daemon's, and the keys docs/config.md lists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from banger.config import UserConfig, load_user_config
from banger.config.user import DEFAULT_SOCKET
from banger.errors import InvalidArgument

DOC = Path(__file__).parents[3] / "docs" / "config.md"


def _load(tmp_path: Path, text: str) -> UserConfig:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_user_config(path)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == UserConfig(DEFAULT_SOCKET, None, None)


def test_every_key(tmp_path: Path) -> None:
    cfg = _load(tmp_path, 'socket_path = "/s"\ndefault_image_name = "deb"\nssh_key_path = "/k"\n')
    assert cfg == UserConfig(Path("/s"), "deb", Path("/k"))
    assert cfg.as_json() == {"socket_path": "/s", "default_image_name": "deb", "ssh_key_path": "/k"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('sock_path = "/s"\n', "unknown key 'sock_path'"),
        ("[network]\nbridge = 'x'\n", "unknown key 'network'"),
        ("socket_path = 3\n", "invalid value for 'socket_path': must be a string"),
        ('socket_path = "run/b.sock"\n', "invalid value for 'socket_path': must be an absolute"),
        ("ssh_key_path = ['/k']\n", "invalid value for 'ssh_key_path'"),
        ("default_image_name = true\n", "invalid value for 'default_image_name'"),
        ("socket_path = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        _load(tmp_path, text)
    line = err.value.one_line()
    assert words in line and str(tmp_path / "config.toml") in line and "\n" not in line
    assert err.value.hint


def test_the_documented_keys_are_the_keys(tmp_path: Path) -> None:
    text = DOC.read_text().split("## User:", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    assert documented == set(UserConfig.__dataclass_fields__)


def test_reading_it_does_not_import_pydantic() -> None:
    probe = (
        "import sys; from banger.config import load_user_config; load_user_config(); "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
