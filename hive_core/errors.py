"""The host core's errors, and their codes on the wire.

Extends the root tree in ``desired.errors``::

    HiveError
    ├── UserError                       code "user_error": fix the request
    │   ├── DesiredStateError           code "user_error"
    │   ├── NotFoundError               code "not_found": no such agent, message, question, reminder
    │   ├── ConflictError               code "conflict": already answered, already cancelled
    │   ├── ForbiddenError              code "forbidden": this socket may not do that
    │   ├── BadRequestError             code "bad_request": not JSON, unknown op, invalid fields
    │   │   └── TooLargeError           code "too_large": a line over the 1 MiB limit
    │   └── LimitError                  code "limit": a per-agent cap (pending reminders) is full
    ├── TemporaryError                  code "temporary": retry later (a store busy, a socket not up)
    │   └── UnavailableError            code "unavailable": a component (the reconciler) is not running
    ├── PermanentError                  code "permanent"
    └── (anything else)                 code "internal": a bug; logged with its traceback on the host

Over the wire an error travels as ``{"ok": false, "error": {"code", "message"}}``;
``error_from_wire`` turns it back into the same class on the client side, so
the harness and the CLI catch the same exceptions the host raised.
"""

from __future__ import annotations

from desired.errors import (
    ConflictError,
    DesiredStateError,
    HiveError,
    NotFoundError,
    PermanentError,
    TemporaryError,
    UserError,
)


class ForbiddenError(UserError):
    """The caller's socket does not allow this (another agent's question, a manager-only op)."""


class BadRequestError(UserError):
    """The request could not be understood: not JSON, an unknown op, or invalid fields."""


class TooLargeError(BadRequestError):
    """A request line longer than the wire's limit."""


class LimitError(UserError):
    """A per-agent cap is reached; the message says which and how to make room."""


class UnavailableError(TemporaryError):
    """A part of the daemon this request needs is not running (yet)."""


class InternalError(HiveError):
    """The host failed in a way it did not expect (a bug); details are in the host's log."""


# Most specific first: the first isinstance match names the code.
_CODES: tuple[tuple[type[HiveError], str], ...] = (
    (TooLargeError, "too_large"),
    (BadRequestError, "bad_request"),
    (ForbiddenError, "forbidden"),
    (LimitError, "limit"),
    (NotFoundError, "not_found"),
    (ConflictError, "conflict"),
    (UserError, "user_error"),
    (UnavailableError, "unavailable"),
    (TemporaryError, "temporary"),
    (PermanentError, "permanent"),
    (InternalError, "internal"),
)
_CLASSES: dict[str, type[HiveError]] = {code: cls for cls, code in _CODES}


def error_code(exc: BaseException) -> str:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return "internal"


def error_from_wire(code: str, message: str) -> HiveError:
    """The exception a client raises for an ``ok: false`` answer (unknown codes → InternalError)."""
    cls = _CLASSES.get(code, InternalError)
    return cls(message)


__all__ = [
    "BadRequestError",
    "ConflictError",
    "DesiredStateError",
    "ForbiddenError",
    "HiveError",
    "InternalError",
    "LimitError",
    "NotFoundError",
    "PermanentError",
    "TemporaryError",
    "TooLargeError",
    "UnavailableError",
    "UserError",
    "error_code",
    "error_from_wire",
]
