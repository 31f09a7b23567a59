import base64
import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from banger.daemon.docker_auth import docker_config_as
from banger.errors import InvalidArgument, PermissionDenied
from banger.hostfiles import Caller
from banger.oci.auth import DockerConfig, load_credentials, parse_challenge

_nobody = pwd.getpwnam("nobody")
NOBODY = Caller(_nobody.pw_uid, _nobody.pw_gid, (_nobody.pw_gid,))


def as_root(path: Path) -> DockerConfig:
    return docker_config_as(Caller(os.geteuid(), os.getegid()), str(path))


@pytest.fixture
def world():
    """A directory nobody may enter (pytest's temp root is private)."""
    path = Path(tempfile.mkdtemp(prefix="banger-auth-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_challenge_parsing():
    c = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    )
    assert c is not None and c.scheme == "bearer"
    assert c.params == {
        "realm": "https://auth.example/token",
        "service": "reg",
        "scope": "repository:a/b:pull",
    }
    assert parse_challenge('Basic realm="x"').scheme == "basic"
    assert parse_challenge("Negotiate abc") is None


def test_docker_config_auth_and_identity_token(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {
                        "auth": base64.b64encode(b"hubuser:s3:cret").decode()
                    },
                    "127.0.0.1:5000": {"identitytoken": "refresh-me"},
                }
            }
        )
    )
    hub = load_credentials("registry-1.docker.io", as_root(config))
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "s3:cret")
    assert "s3:cret" not in repr(hub) and "s3:cret" not in repr(as_root(config))
    local = load_credentials("127.0.0.1:5000", as_root(config))
    assert local is not None and local.identity_token == "refresh-me"
    assert load_credentials("other.example", as_root(config)) is None
    assert load_credentials("other.example", None) is None  # no config: anonymous


def test_credential_helpers_run_as_the_configs_reader(world, monkeypatch):
    """The helper answers with the uid and HOME it ran with: the caller's, not root's."""
    helper = world / "docker-credential-banger-test"
    helper.write_text(
        '#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = "reg.example:443" ] || exit 1\n'
        'echo "{\\"Username\\":\\"$(id -u)\\",\\"Secret\\":\\"$HOME\\"}"\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{world}:{os.environ['PATH']}")
    config = world / "config.json"
    config.write_text(json.dumps({"credHelpers": {"reg.example:443": "banger-test"}}))
    config.chmod(0o644)
    creds = load_credentials("reg.example:443", docker_config_as(NOBODY, str(config)))
    assert creds is not None
    assert (creds.username, creds.password) == (str(NOBODY.uid), _nobody.pw_dir)
    config.write_text(json.dumps({"credsStore": "banger-test"}))
    nobody = docker_config_as(NOBODY, str(config))
    assert load_credentials("elsewhere.example", nobody) is None  # helper exits 1: anonymous


def test_the_config_is_read_as_the_caller_and_bounded(world):
    secret = world / "root-config.json"
    secret.write_text(json.dumps({"auths": {"r.example": {"auth": "cm9vdDpwdw=="}}}))
    secret.chmod(0o600)
    with pytest.raises(PermissionDenied, match=f"uid {NOBODY.uid} may not read"):
        docker_config_as(NOBODY, str(secret))
    big = world / "big.json"
    big.write_bytes(b" " * (2 << 20))
    big.chmod(0o644)
    with pytest.raises(InvalidArgument, match="larger than 1024 KiB"):
        docker_config_as(NOBODY, str(big))
