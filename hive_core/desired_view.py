"""The host core's view of desired state: the last valid snapshot of `main`, re-read when it moves.

Checking is one ref read (``MetaRepo.head``), cheap enough to do before every
request that needs names or allowed recipients. A meta repo that does not
exist yet reads as an empty swarm (the operator can still use the admin
socket); a `main` that fails validation keeps the last good snapshot, since
the pre-receive hook should have refused it and agents must keep talking.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from desired.repo import MAIN, MetaRepo, Snapshot
from desired.schema import AgentSpec, DesiredState
from hive_kit.errors import HiveError

log = logging.getLogger(__name__)

EMPTY = Snapshot(DesiredState(), "")
RECHECK_AFTER_S = 0.2
"""How stale ``cached()`` (and ``state``) may be; ``current()`` always looks at `main`."""


class DesiredView:
    def __init__(self, meta: Path) -> None:
        self.meta = meta
        self._repo: MetaRepo | None = None
        self._oid: pygit2.Oid | None = None
        self._snapshot = EMPTY
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._checked_at = float("-inf")

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        self._listeners.append(listener)

    @property
    def repo(self) -> MetaRepo | None:
        if self._repo is None and (self.meta / "HEAD").exists():
            try:
                self._repo = MetaRepo(self.meta)
            except HiveError:
                return None
        return self._repo

    def current(self) -> Snapshot:
        """The snapshot at `main` now; reloads (and tells listeners) if `main` moved."""
        return self.refresh()

    def cached(self) -> Snapshot:
        """The snapshot at `main`, looked up at most every RECHECK_AFTER_S (the per-request hot path)."""
        if time.monotonic() - self._checked_at < RECHECK_AFTER_S:
            return self._snapshot
        return self.refresh()

    def refresh(self) -> Snapshot:
        """Look at `main` now (same as ``current``)."""
        self._checked_at = time.monotonic()
        repo = self.repo
        if repo is None:
            return self._snapshot
        oid = repo.head(MAIN)
        if oid is None or oid == self._oid:
            return self._snapshot
        try:
            snapshot = repo.load(str(oid))
        except HiveError as exc:
            log.error("desired state at %s is invalid; keeping %s: %s", oid, self._snapshot.short, exc)
            self._oid = oid
            return self._snapshot
        self._oid, self._snapshot = oid, snapshot
        log.info("desired state now at %s (%d agents)", snapshot.short, len(snapshot.state.agents))
        for listener in self._listeners:
            listener(snapshot)
        return snapshot

    @property
    def state(self) -> DesiredState:
        """Desired state as of at most RECHECK_AFTER_S ago; use ``current()`` right after a write."""
        return self.cached().state

    def agent(self, name: str) -> AgentSpec | None:
        return self.state.agents.get(name)

    def manager_name(self) -> str | None:
        manager = self.state.manager()
        return manager.name if manager else None
