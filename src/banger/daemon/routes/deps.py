"""Route helpers: the Services of the running app."""

from __future__ import annotations

from fastapi import Request

from banger.daemon.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
