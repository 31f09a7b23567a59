"""A refusal from safeopen (here or in a caller's child) as the banger error it stands for."""

from __future__ import annotations

from banger.errors import BangerError, InvalidArgument, NotFound, PermissionDenied
from banger.hostfiles.safeopen import HostInputError

_ERRORS: dict[str, type[BangerError]] = {
    "not_found": NotFound,
    "permission_denied": PermissionDenied,
    "invalid_argument": InvalidArgument,
}


def banger_error(code: str, message: str, hint: str | None) -> BangerError:
    """An unknown code (a child the caller tampered with) is an invalid argument."""
    return _ERRORS.get(code, InvalidArgument)(message, hint=hint)


def from_refusal(err: HostInputError) -> BangerError:
    return banger_error(err.code, err.message, err.hint)
