"""Per-invocation CLI state: user config, output mode, and the client it opens lazily.

Free of typer, so the quick verbs (cli.quick) can run without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from banger.client import Client
from banger.config import UserConfig, load_user_config


@dataclass
class CliState:
    json: bool = False
    config_path: Path | None = None
    socket_override: Path | None = None
    _config: UserConfig | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def config(self) -> UserConfig:
        if self._config is None:
            self._config = load_user_config(self.config_path)
        return self._config

    @property
    def socket_path(self) -> Path:
        return self.socket_override or self.config.socket_path

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.socket_path)
        return self._client
