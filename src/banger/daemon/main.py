"""`bangerd`: load config, build services, serve the API until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from banger.config import load_daemon_config
from banger.daemon.app import create_app
from banger.daemon.memory import limit_arenas
from banger.daemon.server import serve
from banger.daemon.services import build_services
from banger.errors import BangerError


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bangerd", description="the banger daemon")
    parser.add_argument(
        "--config", type=Path, help="daemon config (default /etc/banger/config.toml)"
    )
    parser.add_argument("--socket", type=Path, help="override socket_path")
    parser.add_argument("--state-dir", type=Path, help="override state_dir")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        config = load_daemon_config(args.config)
        overrides = {
            k: v
            for k, v in {
                "socket_path": args.socket,
                "state_dir": args.state_dir,
                "log_level": args.log_level,
            }.items()
            if v is not None
        }
        config = config.model_validate({**config.model_dump(), **overrides})
        logging.basicConfig(
            level=config.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        limit_arenas()
        services = build_services(config)
        try:
            services.start()
            serve(create_app(services), config.socket_path, config.socket_group, config.log_level)
        finally:
            services.close()
    except BangerError as exc:
        print(f"bangerd: {exc.one_line()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
