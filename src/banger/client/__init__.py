"""The httpx client of the bangerd API over its UNIX socket."""

from banger.client.http import Client

__all__ = ["Client"]
