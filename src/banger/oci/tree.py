"""The merged filesystem of an image, held in memory while layers replay.

Paths exist only as names in this tree; nothing here touches the host filesystem except
content files, which live under flat, numbered names in a staging directory. Symlinks
are data (a target string) and are never resolved, so no layer can reach outside.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

# Shared by every inode without xattrs (nearly all): saves an empty dict per inode.
NO_XATTRS: Mapping[str, bytes] = MappingProxyType({})


class Kind(Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


# slots: an image may hold a million inodes; a __dict__ each would double their memory.
@dataclass(eq=False, slots=True)
class Inode:
    kind: Kind
    mode: int  # permission bits incl. setuid/setgid/sticky (0o7777)
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=lambda: NO_XATTRS)
    size: int = 0  # a regular file's size, holes included
    stored: int = 0  # bytes of it that are data (less than size if sparse)
    segments: int = 1  # data segments of a sparse file (extents it needs)
    content: Path | None = None  # staged data of a regular file
    target: str = ""  # symlink target, kept verbatim
    major: int = 0
    minor: int = 0
    links: int = 0  # how many paths in the tree name this inode
    children: dict[str, Child] | None = None  # directories only


@dataclass(eq=False, slots=True)
class Child:
    inode: Inode
    layer: int  # index of the layer that last wrote this path (whiteouts hide lower layers only)


class ImageTreeError(Exception):
    """A structural conflict (e.g. a path through a symlink); replay adds layer and entry."""


def new_dir(mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = 0) -> Inode:
    return Inode(Kind.DIR, mode, uid, gid, mtime, children={})


class ImageTree:
    def __init__(self) -> None:
        self.root = new_dir()
        # Parents no entry named but a path implied: one entry 256 levels deep creates
        # 255 of them, so replay counts them against its entry and metadata limits.
        self.implied_dirs = 0
        self.implied_name_bytes = 0

    def parent_dir(self, parts: list[str], layer: int) -> Inode:
        """Walk to the directory holding parts[-1], creating missing parents as plain dirs."""
        node = self.root
        for depth, name in enumerate(parts[:-1]):
            assert node.children is not None
            child = node.children.get(name)
            if child is None:
                child = Child(new_dir(), layer)
                child.inode.links = 1
                node.children[name] = child
                self.implied_dirs += 1
                self.implied_name_bytes += len(name)
            elif child.inode.kind is Kind.SYMLINK:
                raise ImageTreeError(f"parent {'/'.join(parts[: depth + 1])} is a symlink")
            elif child.inode.kind is not Kind.DIR:
                raise ImageTreeError(f"parent {'/'.join(parts[: depth + 1])} is not a directory")
            node = child.inode
        return node

    def lookup(self, parts: list[str]) -> Inode | None:
        """Literal lookup (no symlink resolution); None if absent or under a non-directory."""
        node = self.root
        for name in parts:
            if node.children is None:
                return None
            child = node.children.get(name)
            if child is None:
                return None
            node = child.inode
        return node

    def put(self, parts: list[str], inode: Inode, layer: int) -> None:
        """Place inode at parts, replacing what is there (a dir over a dir merges)."""
        if not parts:
            if inode.kind is not Kind.DIR:
                raise ImageTreeError("the image root must be a directory")
            _copy_meta(inode, self.root)
            return
        parent = self.parent_dir(parts, layer)
        assert parent.children is not None
        name = parts[-1]
        existing = parent.children.get(name)
        if existing is not None and existing.inode.kind is Kind.DIR and inode.kind is Kind.DIR:
            _copy_meta(inode, existing.inode)
            existing.layer = layer
            return
        if existing is not None:
            release(existing.inode)
        inode.links += 1
        parent.children[name] = Child(inode, layer)

    def remove(self, parts: list[str], layer: int) -> None:
        """Whiteout: hide what lower layers put at parts (entries of this layer stay)."""
        if not parts:
            return
        parent = self.lookup(parts[:-1])
        if parent is None or parent.children is None:
            return
        child = parent.children.get(parts[-1])
        if child is None:
            return
        if child.layer < layer:
            del parent.children[parts[-1]]
            release(child.inode)
        elif child.inode.kind is Kind.DIR:
            self.make_opaque_inode(child.inode, layer)

    def make_opaque(self, parts: list[str], layer: int) -> None:
        target = self.lookup(parts)
        if target is not None and target.kind is Kind.DIR:
            self.make_opaque_inode(target, layer)

    def make_opaque_inode(self, directory: Inode, layer: int) -> None:
        # Iterative: a layer may nest directories thousands deep.
        pending = [directory]
        while pending:
            node = pending.pop()
            assert node.children is not None
            for name, child in list(node.children.items()):
                if child.layer < layer:
                    del node.children[name]
                    release(child.inode)
                elif child.inode.kind is Kind.DIR:
                    pending.append(child.inode)

    def walk(self) -> Iterator[tuple[str, Inode]]:
        """Every path ("" is the root) with its inode, parents before children, sorted.

        Iterative, and holding one path per level (not one per pending entry): memory
        grows with depth, not with the width of a directory.
        """
        yield "", self.root
        levels: list[tuple[str, Inode, Iterator[str]]] = [
            ("", self.root, iter(sorted(self.root.children or {})))
        ]
        while levels:
            prefix, directory, names = levels[-1]
            name = next(names, None)
            if name is None:
                levels.pop()
                continue
            assert directory.children is not None
            inode = directory.children[name].inode
            path = f"{prefix}/{name}" if prefix else name
            yield path, inode
            if inode.children:
                levels.append((path, inode, iter(sorted(inode.children))))


def _copy_meta(source: Inode, dest: Inode) -> None:
    dest.mode, dest.uid, dest.gid, dest.mtime = source.mode, source.uid, source.gid, source.mtime
    dest.xattrs = source.xattrs


def release(inode: Inode) -> None:
    """Drop one path's reference; free staged content (and whole subtrees) no path names."""
    pending = [inode]  # iterative: a whited-out tree may be thousands of levels deep
    while pending:
        node = pending.pop()
        node.links -= 1
        if node.links > 0:
            continue
        if node.content is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(node.content)
            node.content = None
        if node.children:
            pending.extend(child.inode for child in node.children.values())
            node.children.clear()
