"""Daemon and user configuration (TOML).

The daemon's config is validated with pydantic (config.models, config.loader); the user's
(config.user) by hand, because every `banger` command reads it. The daemon's names load on
first use, so `from banger.config import load_user_config` never imports pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from banger.config.user import UserConfig, load_user_config, user_config_path

if TYPE_CHECKING:
    from banger.config.loader import load_daemon_config, load_model
    from banger.config.models import DaemonConfig, NetworkSettings

_DAEMON_SIDE = {
    "DaemonConfig": "banger.config.models",
    "NetworkSettings": "banger.config.models",
    "load_daemon_config": "banger.config.loader",
    "load_model": "banger.config.loader",
}


def __getattr__(name: str) -> Any:
    if name not in _DAEMON_SIDE:
        raise AttributeError(f"module 'banger.config' has no attribute {name!r}")
    return getattr(import_module(_DAEMON_SIDE[name]), name)


__all__ = [
    "DaemonConfig",
    "NetworkSettings",
    "UserConfig",
    "load_daemon_config",
    "load_model",
    "load_user_config",
    "user_config_path",
]
