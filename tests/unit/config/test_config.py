from pathlib import Path

import pytest

from banger.config import DaemonConfig, load_daemon_config, load_user_config
from banger.errors import InvalidArgument


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("BANGER_CONFIG", raising=False)
    assert load_user_config().default_image_name is None


def test_valid_daemon_config(tmp_path: Path) -> None:
    cfg = load_daemon_config(
        _write(tmp_path, 'state_dir = "/srv/b"\n[network]\nsubnet = "10.9.0.0/24"\n')
    )
    assert cfg.state_dir == Path("/srv/b")
    assert str(cfg.network.subnet) == "10.9.0.0/24"
    assert cfg.network.bridge == DaemonConfig().network.bridge


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "stat_dir = '/x'\n")
    with pytest.raises(InvalidArgument) as err:
        load_daemon_config(path)
    assert str(path) in err.value.message and "'stat_dir'" in err.value.message
    assert "\n" not in err.value.one_line()


def test_nested_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"'network\.bridg'"):
        load_daemon_config(_write(tmp_path, "[network]\nbridg = 'x'\n"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("default_cpus = 'two'\n", "default_cpus"),
        ("state_dir = 'relative/dir'\n", "state_dir"),
        ("[network]\nsubnet = '10.0.0.0/31'\n", "network.subnet"),
        ("[network]\nbridge = 'name-much-too-long-for-linux'\n", "network.bridge"),
        ("default_backend = 'xen'\n", "default_backend"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        load_daemon_config(_write(tmp_path, text))
    assert f"'{key}'" in err.value.message
    assert err.value.hint


def test_bad_toml_syntax(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        load_daemon_config(_write(tmp_path, "state_dir = \n"))


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_user_config(tmp_path / "nope.toml")


def test_user_config_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_user_config(_write(tmp_path, "ssh_key_path = '~/k'\ndefault_image_name = 'd'\n"))
    assert cfg.ssh_key_path == tmp_path / "k"


def test_dm_snapshot_clone_strategy_is_refused_until_it_works(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        load_daemon_config(_write(tmp_path, 'clone_strategy = "dm-snapshot"\n'))
    line = err.value.one_line()
    assert "'clone_strategy'" in line and "not supported yet" in line
    assert all(f"'{name}'" in line for name in ("auto", "reflink", "copy"))
    assert "\n" not in line
    assert (
        load_daemon_config(_write(tmp_path, 'clone_strategy = "copy"\n')).clone_strategy == "copy"
    )
