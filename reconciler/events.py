"""Where the reconciler's events go: a sink with one call shape.

The daemon plugs in an adapter to ``hive_core.events.EventLog`` (so the
dashboard and the manager's inbox see them); a one-shot `hive reconcile`
and the tests use ``LogSink`` / ``MemorySink``. Kinds match hive_core's
event models: ``agent_condition_changed``, ``container_crash``,
``agent_spawned``, ``agent_rebuilt``, ``agent_started``, ``agent_stopped``,
``agent_destroyed``, ``deployed``, ``deploy_failed``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def emit(self, kind: str, **fields: Any) -> None: ...


class LogSink:
    def emit(self, kind: str, **fields: Any) -> None:
        agent = fields.get("agent", "-")
        log.info("event %s agent %s %s", kind, agent, fields)


class MemorySink:
    """Keeps every event (tests, and `hive reconcile` to summarise what happened)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})

    def of(self, kind: str, agent: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind and (agent is None or e.get("agent") == agent)]
