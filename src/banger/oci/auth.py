"""Registry credentials from a docker config.json, credential helpers, and auth challenges.

Credentials are only ever held in memory and sent in headers; nothing here logs them.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from banger import proc
from banger.errors import BangerError, InvalidArgument
from banger.oci.reference import DOCKER_HUB_REGISTRY

# Docker stores Hub credentials under this legacy key.
_DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HELPER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
HELPER_TIMEOUT_S = 30


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # OAuth2 refresh token (docker login with an identity provider)

    def __repr__(self) -> str:  # never let a secret reach a log line or traceback
        return f"Credentials(username={self.username!r}, secret=<redacted>)"


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def _config_key(host: str) -> str:
    """Reduce a config.json key ("https://host:5000/v1/", "host") to host[:port]."""
    key = re.sub(r"^[a-z]+://", "", host.strip())
    return key.split("/", 1)[0].lower()


def _registry_keys(registry: str) -> set[str]:
    if registry == DOCKER_HUB_REGISTRY:
        return {"index.docker.io", "docker.io", "registry-1.docker.io"}
    return {registry.lower()}


@dataclass(frozen=True)
class DockerConfig:
    """A docker config.json as its owner could read it, and how to run its credential
    helpers with that owner's rights (never the daemon's: a member naming a helper must
    not get root's keychain). The daemon builds it (daemon/pull.py); nothing here opens
    a path a user handed in."""

    data: bytes
    source: str  # the path it was read from, for messages
    helper_prefix: tuple[str, ...]  # e.g. setpriv with the owner's credentials, then "--"
    helper_env: dict[str, str]  # HOME and friends of the owner

    def __repr__(self) -> str:  # its data may hold secrets
        return f"DockerConfig(source={self.source!r})"


def load_credentials(registry: str, docker_config: DockerConfig | None) -> Credentials | None:
    """The credentials docker would use for registry, or None for anonymous access."""
    if docker_config is None:
        return None
    source = docker_config.source
    try:
        config = json.loads(docker_config.data)
    except ValueError as exc:
        raise InvalidArgument(
            f"cannot read docker config {source}: {type(exc).__name__}",
            hint="fix or remove the file (it must be JSON like ~/.docker/config.json)",
        ) from exc
    if not isinstance(config, dict):
        raise InvalidArgument(f"docker config {source} is not a JSON object", hint="fix the file")
    keys = _registry_keys(registry)
    helpers = config.get("credHelpers") or {}
    for raw_key, helper in helpers.items() if isinstance(helpers, dict) else []:
        if _config_key(raw_key) in keys and isinstance(helper, str):
            return _from_helper(helper, registry, docker_config)
    auths = config.get("auths") or {}
    for raw_key, entry in auths.items() if isinstance(auths, dict) else []:
        if _config_key(raw_key) in keys and isinstance(entry, dict):
            found = _from_auth_entry(entry, source)
            if found is not None:
                return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, registry, docker_config, missing_ok=True)
    return None


def _from_auth_entry(entry: dict[str, object], source: str) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(identity_token=token)
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"an 'auth' entry in {source} is not base64 of user:password",
                hint="run docker login again or fix the entry",
            ) from exc
        return Credentials(username=username, password=password)
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(username=username, password=password)
    return None


def _from_helper(
    helper: str, registry: str, config: DockerConfig, *, missing_ok: bool = False
) -> Credentials | None:
    if not _HELPER_NAME.match(helper):
        raise InvalidArgument(
            f"invalid credential helper name {helper[:40]!r}", hint="fix credHelpers"
        )
    tool = f"docker-credential-{helper}"
    try:
        path = proc.which(tool)
    except BangerError:
        if missing_ok:
            return None
        raise
    server = "https://index.docker.io/v1/" if registry == DOCKER_HUB_REGISTRY else registry
    argv = [*config.helper_prefix, path, "get"]
    result = proc.run(
        argv, input=server, check=False, timeout=HELPER_TIMEOUT_S, env=config.helper_env
    )
    if result.returncode != 0:
        # Helpers exit non-zero for "no credentials for this server": anonymous access.
        return None
    try:
        data = json.loads(result.stdout)
        username, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
    except (ValueError, AttributeError):
        raise InvalidArgument(
            f"{tool} returned something that is not credentials JSON",
            hint=f"check the helper: echo {server} | {tool} get",
        ) from None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> Challenge | None:
    """Parse one WWW-Authenticate header (Bearer realm="...",service="...",scope="...")."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme=scheme, params=params)


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()
