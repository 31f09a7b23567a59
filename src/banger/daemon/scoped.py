"""Objects as one actor may see them: every user-facing lookup goes through `Scoped`.

The stores answer for everyone; services ask `Scoped` instead whenever a request names an
object, so the owner check (owners.decide) sits in one place and a hidden object fails
exactly like a missing one: the same NotFound, word for word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from banger.api.models import VM, Image, Kernel
from banger.daemon.owners import Access, Actor, Verdict, decide
from banger.errors import Conflict, NotFound, PermissionDenied
from banger.store.objects import DocumentStore

M = TypeVar("M", VM, Image, Kernel)

ADMIN_HINT = "ask its owner or an admin (root, or a member of the daemon's admin_group)"


def verdict(obj: VM | Image | Kernel, actor: Actor, access: Access) -> Verdict:
    return decide(actor, obj.owner_uid, isinstance(obj, Image | Kernel) and obj.shared, access)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


class Scoped(Generic[M]):
    """A store's objects as an actor may see them. `command` is the CLI group (vm, image,
    kernel) the hints name."""

    def __init__(self, store: DocumentStore[M], command: str) -> None:
        self.store = store
        self.kind = store.kind
        self.command = command

    def not_found(self, key: str) -> NotFound:
        return NotFound(
            f"no {self.kind} named '{key}'", hint=f"list them: banger {self.command} list"
        )

    def find(self, key: str, actor: Actor, access: Access = Access.USE, verb: str = "change") -> M:
        """The object `key` names that `actor` may `access`; NotFound if they may not see
        it, PermissionDenied if they see it (shared) but may not `verb` it."""
        forbidden: M | None = None
        for obj in self.store.find(key):
            found = verdict(obj, actor, access)
            if found is Verdict.ALLOW:
                return obj
            if found is Verdict.FORBID and forbidden is None:
                forbidden = obj
        if forbidden is not None:
            raise PermissionDenied(
                f"{self.kind} '{forbidden.name}' is shared with you but belongs to another "
                f"user: only its owner or an admin may {verb} it",
                hint=ADMIN_HINT,
            )
        raise self.not_found(key)

    def visible(self, actor: Actor) -> list[M]:
        """What `actor` may list: their own objects, shared ones, or all for an admin."""
        return [o for o in self.store.list() if verdict(o, actor, Access.USE) is Verdict.ALLOW]

    def ensure_free(self, name: str, actor: Actor) -> None:
        """Names are unique across users; a clash with a hidden object says nothing more."""
        existing = self.store.get(name)
        if existing is None:
            return
        if verdict(existing, actor, Access.MANAGE) is Verdict.ALLOW:
            hint = f"pick another --name or delete it: banger {self.command} delete {name}"
        else:
            hint = "pick another --name (names are unique across all users)"
        raise Conflict(
            f"{_article(self.kind)} {self.kind} named '{name}' already exists", hint=hint
        )


def in_use(what: str, label: str, users: Sequence[VM | Image], actor: Actor, hint: str) -> Conflict:
    """`what` is still used by `users` (`label`: "VM(s)"): the actor learns the names of
    those they may see and only the number of the others."""
    names = [u.name for u in users if verdict(u, actor, Access.USE) is Verdict.ALLOW]
    others = len(users) - len(names)
    if others:
        names.append(f"{others} of other users")
        hint += " (other users' ones: ask them or an admin)"
    return Conflict(f"{what} is used by {label}: {', '.join(names)}", hint=hint)
