"""banger: a microVM manager for Linux hosts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("banger")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
