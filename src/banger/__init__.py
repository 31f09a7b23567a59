"""banger: a microVM manager for Linux hosts."""

# The one place the version is written (pyproject.toml reads it from here): a literal, so
# every `banger` command does not pay ~70 ms importing importlib.metadata to learn it.
__version__ = "0.1.0"

__all__ = ["__version__"]
