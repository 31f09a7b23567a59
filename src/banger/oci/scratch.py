"""Remove a scratch tree whatever its depth: iterative, one directory fd at a time.

shutil.rmtree recurses once per level, so a staged image nested a thousand directories
deep made it raise RecursionError and leave tens of MB behind in /dev/shm. This walk keeps
a list of pending subdirectory names per level instead of a Python frame, never follows
a symlink (it unlinks it), and keeps going past entries it cannot remove: cleanup runs
while another error is propagating and must neither raise nor stop early.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path) -> None:
    """Delete path and everything under it, best effort; a missing path is fine."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return
    except OSError:  # not a directory (or a symlink to one): just the name goes
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    # levels[i]: (name of the directory entered at depth i, its subdirectories still to do)
    levels: list[tuple[str, list[str]]] = [("", _clear_files(fd))]
    try:
        while levels:
            name, subdirs = levels[-1]
            if subdirs:
                child = subdirs.pop()
                try:
                    sub = os.open(child, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.unlink(child, dir_fd=fd)  # raced into a non-directory
                    continue
                os.close(fd)
                fd = sub
                levels.append((child, _clear_files(fd)))
                continue
            levels.pop()
            if not levels:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd)
    except OSError:
        pass  # best effort: a directory we cannot climb out of stops the walk
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _clear_files(fd: int) -> list[str]:
    """Unlink every non-directory in the directory fd; returns its subdirectory names."""
    subdirs: list[str] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    is_dir = stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode)
                except OSError:
                    continue
                if is_dir:
                    subdirs.append(entry.name)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.name, dir_fd=fd)
    except OSError:
        pass
    return subdirs
