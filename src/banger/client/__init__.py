"""The client of the bangerd API over its UNIX socket (HTTP/1.1, standard library only)."""

from banger.client.http import Client

__all__ = ["Client"]
