"""One-time dashboard login codes: minted on the admin socket, redeemed by the dashboard.

`hive dashboard url` (the admin op ``dashboard_login``) asks the daemon for a
link; the dashboard, which runs in the same daemon, exchanges the code in it
for a session at ``/login?code=...``. A code lives only here, in memory:
single use, a few minutes, gone with the daemon. Only the admin socket (the
operator's, 0600) can mint one, so the link is as good as the token without
ever showing the token.

The dashboard says where it is served (``serving``) while it runs; with no
dashboard there is nothing to log into and minting a link says so.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from hive_kit.errors import UnavailableError

CODE_TTL_SECONDS = 300.0
MAX_OPEN_CODES = 64


@dataclass(frozen=True)
class LoginLink:
    url: str
    expires_at: float  # unix seconds


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class LoginCodes:
    """Open codes (kept as digests), and the dashboard's base URL while it is served."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl: float = CODE_TTL_SECONDS) -> None:
        self.clock = clock
        self.ttl = ttl
        self.base_url: str | None = None
        self._open: dict[str, float] = {}  # sha256(code) → expires_at

    def serving(self, base_url: str | None) -> None:
        """The dashboard is now served at ``base_url`` (``http://host:port``), or not at all."""
        self.base_url = base_url

    def issue(self) -> LoginLink:
        """A new single-use link; ``UnavailableError`` when no dashboard is served."""
        if self.base_url is None:
            raise UnavailableError(
                "the dashboard is not running in this daemon (`hive serve --no-web`?); "
                "start `hive serve` without --no-web to log in"
            )
        now = self.clock()
        self._prune(now)
        while len(self._open) >= MAX_OPEN_CODES:  # the oldest unused links go first
            del self._open[min(self._open, key=self._open.__getitem__)]
        code = secrets.token_urlsafe(24)
        expires_at = now + self.ttl
        self._open[_digest(code)] = expires_at
        return LoginLink(f"{self.base_url}/login?code={code}", expires_at)

    def redeem(self, code: str) -> bool:
        """True once for a code that was issued and has not expired; it is spent either way."""
        expires_at = self._open.pop(_digest(code), None)
        return expires_at is not None and self.clock() < expires_at

    def _prune(self, now: float) -> None:
        for digest in [d for d, until in self._open.items() if until <= now]:
            del self._open[digest]
