"""The error tree every hyperhive package builds on.

    HiveError                      anything hyperhive raises on purpose
    ├── UserError                  the caller asked for something wrong; exit 1, fix the input
    │   ├── DesiredStateError      desired state breaks the schema or a rule (lists Problems)
    │   ├── NotFoundError          an agent, proposal or path that does not exist
    │   └── ConflictError          a merge or write that would lose someone else's change
    ├── TemporaryError             worth retrying (a lock held, a socket not up yet)
    └── PermanentError             retrying will not help until something changes

Each message says what failed, for which object, and what to do about it.
Foreign errors (pygit2, OSError, json) are translated at the boundary with
``raise ... from exc`` so callers only ever catch these.
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


class TemporaryError(HiveError):
    """A failure that may go away on retry."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(HiveError):
    """A failure that retrying will not fix until desired state or the host changes."""


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


class DesiredStateError(UserError):
    """Desired state is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = "invalid desired state" if count == 1 else f"invalid desired state ({count} problems)"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))
