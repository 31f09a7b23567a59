"""`image pull --docker-config FILE`: the caller's registry credentials, with their rights.

The config is read by a child with the caller's credentials (banger.hostfiles), at most
1 MiB, when the pull starts; its credential helpers (`docker-credential-NAME get`) run
under setpriv as the caller, with their HOME, and a timeout (oci/auth.py). A pull without
a config is anonymous: nothing reads root's ~/.docker/config.json or runs a helper for it.
"""

from __future__ import annotations

import pwd
from pathlib import Path

from banger.hostfiles import Caller, as_caller, read_small
from banger.oci.auth import DockerConfig

MAX_CONFIG_BYTES = 1 << 20
_HELPER_PATH = "/usr/local/bin:/usr/bin:/bin"


def docker_config_as(caller: Caller, path: str) -> DockerConfig:
    """The config at `path` as `caller` may read it, with helpers that run as them."""
    data = read_small(caller, Path(path), "docker config", MAX_CONFIG_BYTES)
    try:
        name = pwd.getpwuid(caller.uid).pw_name
    except KeyError:
        name = str(caller.uid)
    env = {"HOME": caller.home(), "USER": name, "LOGNAME": name, "PATH": _HELPER_PATH}
    return DockerConfig(data, path, tuple(as_caller(caller)), env)
