"""Daemon and user configuration (TOML, validated with pydantic)."""

from banger.config.loader import load_daemon_config, load_model, load_user_config
from banger.config.models import DaemonConfig, NetworkSettings, UserConfig

__all__ = [
    "DaemonConfig",
    "NetworkSettings",
    "UserConfig",
    "load_daemon_config",
    "load_model",
    "load_user_config",
]
