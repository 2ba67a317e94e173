"""The one error tree every hyperhive package builds on, and the one table that maps it outward.

    HiveError                           anything hyperhive raises on purpose
    ├── UserError                       the caller asked for something wrong: fix the input
    │   ├── DesiredStateError           desired state breaks the schema or a rule (lists Problems)
    │   ├── NotFoundError               no such agent, proposal, message, question, reminder, path
    │   ├── ConflictError               a write that would lose someone else's change; already answered
    │   ├── ForbiddenError              this socket (or this page) may not do that
    │   ├── BadRequestError             not JSON, an unknown op, invalid fields
    │   │   └── TooLargeError           a line or body over its limit
    │   └── LimitError                  a per-agent cap (pending reminders) is full
    ├── TemporaryError                  worth retrying (a lock held, a socket not up yet)
    │   └── UnavailableError            a component (the reconciler) is not running
    ├── PermanentError                  retrying will not help until something changes
    └── InternalError                   a bug; details are in the host's log

Each message says what failed, for which object, and what to do about it.
Foreign errors (pygit2, apsw, OSError, json) are translated at the boundary
with ``raise ... from exc``, so callers only ever catch these.

``ERROR_TABLE`` is the single mapping (httpx's ``_exceptions`` is the model)
from a class to its code on the wire, its HTTP status on the dashboard and
its exit code in the CLI: the socket server, the web middleware and ``hive``
all ask ``kind_of(exc)`` instead of keeping ladders of ``isinstance`` of
their own. Over the wire an error travels as ``{"ok": false, "error":
{"code", "message"}}``; ``error_from_wire`` turns it back into the same
class, so the harness and the CLI catch what the host raised.
"""

from __future__ import annotations

from dataclasses import dataclass


class HiveError(Exception):
    """Base of every error hyperhive raises on purpose."""


class UserError(HiveError):
    """The request was wrong; the message tells the user how to fix it."""


class NotFoundError(UserError):
    """The named object does not exist."""


class ConflictError(UserError):
    """The change cannot be applied without losing or overriding another change."""


class ForbiddenError(UserError):
    """The caller's socket does not allow this (another agent's question, a manager-only op)."""


class BadRequestError(UserError):
    """The request could not be understood: not JSON, an unknown op, or invalid fields."""


class TooLargeError(BadRequestError):
    """A request line or body longer than its limit."""


class LimitError(UserError):
    """A per-agent cap is reached; the message says which and how to make room."""


class BudgetPausedError(LimitError):
    """The agent's spend today reached its budget: the host grants it no turn (``paused: budget``)."""


class TemporaryError(HiveError):
    """A failure that may go away on retry (``delay``: a hint, in seconds)."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class UnavailableError(TemporaryError):
    """A part of the daemon this request needs is not running (yet)."""


class PermanentError(HiveError):
    """A failure that retrying will not fix until desired state or the host changes."""


class InternalError(HiveError):
    """The host failed in a way it did not expect (a bug); details are in the host's log."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with desired state: where, what, and how to fix it."""

    file: str
    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.path}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text

    def as_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "text": str(self),
        }


class DesiredStateError(UserError):
    """Desired state is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = "invalid desired state" if count == 1 else f"invalid desired state ({count} problems)"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


EXIT_OK, EXIT_USER_ERROR, EXIT_CHANGES = 0, 1, 2
"""`hive`'s exit codes: ok; an error (the message says what to fix); changes pending (a dry run)."""


@dataclass(frozen=True)
class ErrorKind:
    """How one class of error leaves each surface."""

    cls: type[HiveError]
    code: str  # on the wire
    http_status: int  # on the dashboard and the agent pages
    exit_code: int = EXIT_USER_ERROR  # in `hive`


ERROR_TABLE: tuple[ErrorKind, ...] = (
    # most specific first: the first isinstance match wins
    ErrorKind(DesiredStateError, "user_error", 422),
    ErrorKind(TooLargeError, "too_large", 413),
    ErrorKind(BadRequestError, "bad_request", 400),
    ErrorKind(ForbiddenError, "forbidden", 403),
    ErrorKind(BudgetPausedError, "budget", 429),
    ErrorKind(LimitError, "limit", 429),
    ErrorKind(NotFoundError, "not_found", 404),
    ErrorKind(ConflictError, "conflict", 409),
    ErrorKind(UserError, "user_error", 400),
    ErrorKind(UnavailableError, "unavailable", 503),
    ErrorKind(TemporaryError, "temporary", 503),
    ErrorKind(PermanentError, "permanent", 500),
    ErrorKind(InternalError, "internal", 500),
)
INTERNAL = ERROR_TABLE[-1]
_BY_CODE: dict[str, type[HiveError]] = {}
for _kind in ERROR_TABLE:  # a code shared by several rows maps back to the last, most general class
    _BY_CODE[_kind.code] = _kind.cls


def kind_of(exc: BaseException) -> ErrorKind:
    """The table row for ``exc`` (anything not a ``HiveError`` is internal: a bug)."""
    for kind in ERROR_TABLE:
        if isinstance(exc, kind.cls):
            return kind
    return INTERNAL


def error_code(exc: BaseException) -> str:
    return kind_of(exc).code


def error_from_wire(code: str, message: str) -> HiveError:
    """The exception a client raises for an ``ok: false`` answer (unknown codes → InternalError)."""
    return _BY_CODE.get(code, InternalError)(message)


__all__ = [
    "ERROR_TABLE",
    "EXIT_CHANGES",
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "BadRequestError",
    "ConflictError",
    "DesiredStateError",
    "ErrorKind",
    "ForbiddenError",
    "HiveError",
    "InternalError",
    "LimitError",
    "NotFoundError",
    "PermanentError",
    "Problem",
    "TemporaryError",
    "TooLargeError",
    "UnavailableError",
    "UserError",
    "error_code",
    "error_from_wire",
    "kind_of",
]
