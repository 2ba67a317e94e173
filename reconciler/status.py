"""Per-agent status the way Flux reports it: conditions Ready / Reconciling / Stalled.

Each condition has a status, a reason (one CamelCase word a program can
match) and a message (a sentence for the operator). ``derive`` is pure: the
loop calls it after every pass and stores the result in the deploy store,
where `hive status` and the dashboard read it (``read_statuses``) without
talking to the daemon.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.backoff import Retry
from reconciler.model import Action, ActionKind, Applied, ContainerState, Observed
from reconciler.store import DeployStore

READY, RECONCILING, STALLED = "Ready", "Reconciling", "Stalled"


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""


@dataclass(frozen=True)
class AgentStatus:
    name: str
    conditions: tuple[Condition, ...]
    desired_revision: str
    applied_revision: str | None
    runtime_state: str  # running / stopped / exited / missing
    last_error: str | None = None
    next_retry: float | None = None  # unix time
    failures: int = 0
    pending: str | None = None  # the planned action, if any
    history: list[dict[str, Any]] = field(default_factory=list)

    def condition(self, kind: str) -> Condition:
        return next(c for c in self.conditions if c.type == kind)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentStatus:
        conditions = tuple(Condition(**c) for c in data.pop("conditions"))
        return cls(conditions=conditions, **data)


@dataclass(frozen=True)
class Inputs:
    name: str
    desired_revision: str
    observed: Observed | None
    applied: Applied | None
    action: Action | None
    in_flight: bool
    retry: Retry
    suspended: bool = False
    degraded: str | None = None  # why the health gate failed, if it did


def derive(i: Inputs, *, mono_now: float, wall_now: float | None = None) -> AgentStatus:
    wall_now = time.time() if wall_now is None else wall_now
    state = i.observed.state.value if i.observed else "missing"
    stalled = Condition(STALLED, False, "None")
    if i.retry.stalled:
        reason = "PermanentError" if i.retry.permanent else "RetriesExhausted"
        stalled = Condition(STALLED, True, reason, i.retry.error)
    if i.in_flight:
        reconciling = Condition(RECONCILING, True, "Progressing", _describe(i.action))
    elif i.action is not None and not i.suspended:
        reconciling = Condition(RECONCILING, True, "Pending", _describe(i.action))
    else:
        reconciling = Condition(RECONCILING, False, "Idle")
    ready = _ready(i, stalled, reconciling)
    next_retry = None
    if i.retry.failures and not i.retry.permanent and i.retry.next_at > mono_now:
        next_retry = wall_now + (i.retry.next_at - mono_now)
    return AgentStatus(
        name=i.name,
        conditions=(ready, reconciling, stalled),
        desired_revision=i.desired_revision,
        applied_revision=i.applied.revision if i.applied else None,
        runtime_state=state,
        last_error=i.retry.error or None,
        next_retry=next_retry,
        failures=i.retry.failures,
        pending=_describe(i.action) if i.action else None,
    )


def _describe(action: Action | None) -> str:
    return f"{action.kind.value}: {action.reason}" if action else ""


def _metadata_only(action: Action | None) -> bool:
    """Recording a description is reconciling, but what runs is what desired state says: still Ready."""
    return action is not None and action.kind is ActionKind.METADATA


def _ready(i: Inputs, stalled: Condition, reconciling: Condition) -> Condition:
    ready = _ready_condition(i, stalled, reconciling)
    warning = i.observed.warning if i.observed else ""
    if not warning:
        return ready
    return Condition(ready.type, ready.status, ready.reason, f"{ready.message}; WARNING: {warning}")


def _ready_condition(i: Inputs, stalled: Condition, reconciling: Condition) -> Condition:
    if i.suspended:
        return Condition(READY, True, "Suspended", "suspended: the reconciler leaves it as it is")
    if stalled.status:
        return Condition(READY, False, stalled.reason, stalled.message)
    if reconciling.status and not _metadata_only(i.action):
        return Condition(READY, False, reconciling.reason, reconciling.message)
    if i.degraded:
        return Condition(READY, False, "HealthCheckFailed", i.degraded)
    if i.observed is None:
        return Condition(READY, True, "Stopped", "stopped as desired (no container)")
    if i.observed.state is ContainerState.RUNNING:
        rev = i.applied.revision[:12] if i.applied else "?"
        return Condition(READY, True, "Deployed", f"running revision {rev}")
    return Condition(READY, True, "Stopped", "stopped as desired")


def save_statuses(store: DeployStore, statuses: list[AgentStatus]) -> None:
    store.save_status({s.name: s.to_json() for s in statuses})


def read_statuses(store: DeployStore) -> list[AgentStatus]:
    """What the loop last recorded, plus each agent's history (newest first)."""
    out = []
    for data in store.status().values():
        status = AgentStatus.from_json(data)
        status.history.extend(h.to_json() for h in store.history(status.name))
        out.append(status)
    return out
