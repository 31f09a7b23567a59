"""The one error family every banger layer raises and every boundary converts to.

Each error carries a stable machine `code`, a one-line `message` saying what is wrong,
and a `hint` saying how to fix it. The daemon maps them to HTTP statuses; the CLI prints
them as one line and exits non-zero.
"""

from __future__ import annotations

# Every `code` a banger error can carry: the API documents it as an enum, so a client can
# switch on it. tests/unit/foundation/test_error_codes.py keeps it complete.
ERROR_CODES = (
    "internal",
    "invalid_argument",
    "not_found",
    "method_not_allowed",
    "conflict",
    "failed_precondition",
    "permission_denied",
    "unavailable",
    "boot_failed",
    "cancelled",
    "command_failed",
    "step_failed",
    "build_failed",
    "image_rejected",
    "digest_mismatch",
    "vmm_error",
    "interrupted",
)


class BangerError(Exception):
    code: str = "internal"
    status: int = 500

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class InvalidArgument(BangerError):
    """The caller's input is wrong: a bad name, a missing file, a malformed value."""

    code = "invalid_argument"
    status = 400


class NotFound(BangerError):
    code = "not_found"
    status = 404


class Conflict(BangerError):
    """The request clashes with existing state: a duplicate name, an object still in use."""

    code = "conflict"
    status = 409


class FailedPrecondition(BangerError):
    """The host lacks something the request needs (a tool, a capability, a kernel feature)."""

    code = "failed_precondition"
    status = 412


class PermissionDenied(BangerError):
    code = "permission_denied"
    status = 403


class Unavailable(BangerError):
    """Something banger talks to (the daemon, a registry, a VMM) did not answer."""

    code = "unavailable"
    status = 503


class BootFailed(Unavailable):
    """A guest stopped making progress (stalled, panicked, exited) before it was ready."""

    code = "boot_failed"


class Cancelled(BangerError):
    code = "cancelled"
    status = 409


_MAX_TAIL = 1000  # characters of a failed tool's last words kept in CommandFailed's message


class CommandFailed(BangerError):
    """An external tool exited non-zero; the message names the tool and its last words."""

    code = "command_failed"
    status = 500

    def __init__(
        self, argv: list[str], returncode: int, stderr: str, *, hint: str | None = None
    ) -> None:
        tail = " | ".join(line for line in stderr.strip().splitlines()[-3:] if line.strip())
        if len(tail) > _MAX_TAIL:  # a "line" may be megabytes: the message stays one line
            tail = "..." + tail[-_MAX_TAIL:]
        tool = argv[0].rsplit("/", 1)[-1] if argv else "?"
        message = f"{tool} failed with exit code {returncode}"
        if tail:
            message += f": {tail}"
        super().__init__(message, hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class StepFailed(BangerError):
    """A provisioning step inside a builder VM exited non-zero; `exit_code` is its status.

    The CLI exits with that same status, so scripts around `banger image build` can tell
    a failing step (its own code) from banger failing (1).
    """

    code = "step_failed"
    status = 422

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
