"""Firecracker backend: payload builders, API client over the UNIX socket, process handling."""

from banger.vmm.firecracker.api import FirecrackerApi, FirecrackerApiError
from banger.vmm.firecracker.backend import FirecrackerBackend

__all__ = ["FirecrackerApi", "FirecrackerApiError", "FirecrackerBackend"]
