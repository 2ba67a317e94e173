"""Where the reconciler's events go: a sink with one call shape, ``emit(event)``.

The events are hive_core's typed models (``ReconcilerEvent`` lists the ones
the loop emits), built where they happen, so a misspelt kind or field is a
type error rather than an event the dashboard never matches. The daemon
plugs in ``reconciler.host.EventLogSink`` (into ``hive_core.events.EventLog``:
the dashboard's stream and the manager's inbox); a one-shot `hive reconcile`
uses ``LogSink``, the tests ``MemorySink``.
"""

from __future__ import annotations

import logging
from typing import Protocol, TypeVar

from hive_core.events import (
    AgentConditionChanged,
    AgentDestroyed,
    AgentRebuilt,
    AgentSpawned,
    AgentStarted,
    AgentStopped,
    ContainerCrash,
    Deployed,
    DeployFailed,
)

log = logging.getLogger(__name__)

ReconcilerEvent = (
    AgentConditionChanged
    | AgentSpawned
    | AgentRebuilt
    | AgentStarted
    | AgentStopped
    | AgentDestroyed
    | ContainerCrash
    | Deployed
    | DeployFailed
)
E = TypeVar("E", bound=ReconcilerEvent)


class EventSink(Protocol):
    def emit(self, event: ReconcilerEvent) -> None: ...


class LogSink:
    def emit(self, event: ReconcilerEvent) -> None:
        fields = event.model_dump(mode="json", exclude={"seq", "ts", "kind", "agent"})
        log.info("event %s agent %s %s", event.kind, event.agent or "-", fields)


class MemorySink:
    """Keeps every event (tests, and `hive reconcile` to summarise what happened)."""

    def __init__(self) -> None:
        self.events: list[ReconcilerEvent] = []

    def emit(self, event: ReconcilerEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[E], agent: str | None = None) -> list[E]:
        """The events of type ``kind`` (about ``agent``, if given), oldest first."""
        return [e for e in self.events if isinstance(e, kind) and (agent is None or e.agent == agent)]
