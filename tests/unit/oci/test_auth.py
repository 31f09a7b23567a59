import base64
import json

from banger.oci.auth import load_credentials, parse_challenge


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
    hub = load_credentials("registry-1.docker.io", config)
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "s3:cret")
    assert "s3:cret" not in repr(hub)
    local = load_credentials("127.0.0.1:5000", config)
    assert local is not None and local.identity_token == "refresh-me"
    assert load_credentials("other.example", config) is None
    assert load_credentials("other.example", tmp_path / "missing.json") is None


def test_credential_helper_is_run(tmp_path, monkeypatch):
    helper = tmp_path / "docker-credential-banger-test"
    helper.write_text(
        '#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = "reg.example:443" ] || exit 1\n'
        'echo \'{"ServerURL":"reg.example:443","Username":"helped","Secret":"pw"}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {"reg.example:443": "banger-test"}}))
    creds = load_credentials("reg.example:443", config)
    assert creds is not None and (creds.username, creds.password) == ("helped", "pw")
    config.write_text(json.dumps({"credsStore": "banger-test"}))
    assert load_credentials("elsewhere.example", config) is None  # helper exits 1: anonymous
