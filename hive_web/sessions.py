"""Dashboard sessions: random ids the daemon keeps, not anything derived from the token.

A browser logs in once (the token pasted at ``/login``, or a one-time link
from `hive dashboard url`) and gets a random session id in an HttpOnly,
SameSite=Strict cookie. Each session has its own random CSRF token, which the
pages embed. A session ends when:

- it has not been used for ``IDLE_SECONDS`` (a day), or it is ``MAX_AGE_SECONDS``
  (a week) old, whichever comes first;
- the browser logs out (``POST /logout``);
- the token changes (rotating ``web-token`` logs everyone out).

Why kept on disk (``<state dir>/web-sessions.json``, 0600): a daemon restart
(an upgrade, a crash) should not cut every open page off mid-stream; the
live stream reconnects and resumes after a restart, and it keeps doing so.
The file holds only SHA-256 digests of the ids and the token's fingerprint,
so reading it gives nothing to log in with. Idle times are kept in memory
only: after a restart every session counts as just used (the week's limit
still holds).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SESSIONS_FILE = "web-sessions.json"
IDLE_SECONDS = 24 * 3600.0
MAX_AGE_SECONDS = 7 * 24 * 3600.0
MAX_SESSIONS = 256


@dataclass
class Session:
    digest: str  # sha256 of the id; the id itself is only in the browser's cookie
    csrf: str
    created: float
    last_seen: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """The open sessions, by digest of their id; persisted on every login, logout and expiry."""

    def __init__(self, path: Path | None, fingerprint: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.clock = clock
        self._open: dict[str, Session] = {}
        self._load()

    def create(self) -> tuple[str, Session]:
        """A new session: (its id, for the cookie; the session)."""
        now = self.clock()
        self._prune(now)
        while len(self._open) >= MAX_SESSIONS:
            del self._open[min(self._open.values(), key=lambda s: s.last_seen).digest]
        session_id = secrets.token_urlsafe(32)
        session = Session(_digest(session_id), secrets.token_urlsafe(32), now, now)
        self._open[session.digest] = session
        self._save()
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session behind a cookie (and mark it used), or None."""
        if not session_id:
            return None
        session = self._open.get(_digest(session_id))
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self.revoke(session_id)
            return None
        session.last_seen = now
        return session

    def revoke(self, session_id: str) -> None:
        if self._open.pop(_digest(session_id), None) is not None:
            self._save()

    def __len__(self) -> int:
        return len(self._open)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen >= IDLE_SECONDS or now - session.created >= MAX_AGE_SECONDS

    def _prune(self, now: float) -> None:
        for session in [s for s in self._open.values() if self._expired(s, now)]:
            del self._open[session.digest]

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data: Any = json.loads(self.path.read_text())
            if data.get("token") != self.fingerprint:
                log.info("the dashboard token changed: every earlier session is logged out")
                return
            now = self.clock()
            for row in data.get("sessions", []):
                session = Session(str(row["digest"]), str(row["csrf"]), float(row["created"]), now)
                if not self._expired(session, now):
                    self._open[session.digest] = session
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s is unreadable (%s); everyone logs in again", self.path, exc)
            self._open.clear()

    def _save(self) -> None:
        if self.path is None:
            return
        rows = [{"digest": s.digest, "csrf": s.csrf, "created": s.created} for s in self._open.values()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"token": self.fingerprint, "sessions": rows}, handle)
        tmp.replace(self.path)
