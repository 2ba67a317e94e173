"""The read-only views: a dry-run plan and live status, for the CLI and the dashboard.

Nothing here writes: no store is created or migrated, no runtime
housekeeping runs, no ref moves. `hive reconcile --dry-run` must be safe to
run at any time, next to a running daemon.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from desired.repo import MetaRepo
from hive_kit.paths import StateLayout
from reconciler.backoff import Retry
from reconciler.model import Plan
from reconciler.observe import World, observe
from reconciler.plan import plan
from reconciler.runtime.base import Runtime
from reconciler.status import AgentStatus, Inputs, derive, read_statuses
from reconciler.store import HistoryRow, deploys_path, open_deploys_readonly


async def world(layout: StateLayout, runtime: Runtime) -> World:
    store = open_deploys_readonly(deploys_path(layout.root))
    try:
        return await observe(layout, MetaRepo(layout.meta), runtime, store)
    finally:
        if store is not None:
            store.close()


async def dry_run(layout: StateLayout, runtime: Runtime, purge: Collection[str] = ()) -> Plan:
    """The plan a pass would carry out now."""
    w = await world(layout, runtime)
    return plan(w.snap.state, w.snap.revision, w.observed, w.applied, purge=purge)


def recorded_statuses(layout: StateLayout) -> list[AgentStatus]:
    """What the loop last recorded (with history); empty if it never ran."""
    store = open_deploys_readonly(deploys_path(layout.root))
    if store is None:
        return []
    try:
        return read_statuses(store)
    finally:
        store.close()


def action_history(layout: StateLayout, name: str) -> list[HistoryRow]:
    """The reconciler's recorded actions for ``name``, newest first (`hive history NAME`)."""
    store = open_deploys_readonly(deploys_path(layout.root))
    if store is None:
        return []
    try:
        return store.history(name)
    finally:
        store.close()


async def live_statuses(layout: StateLayout, runtime: Runtime) -> list[AgentStatus]:
    """Status computed now from a dry run, with retry data from the loop's last record."""
    w = await world(layout, runtime)
    result = plan(w.snap.state, w.snap.revision, w.observed, w.applied)
    recorded = {s.name: s for s in recorded_statuses(layout)}
    names = sorted(w.snap.state.agents.keys() | {n for n, o in w.observed.items() if o.managed})
    out = []
    for name in names:
        old = recorded.get(name)
        spec = w.snap.state.agents.get(name)
        retry = _recorded_retry(old, w.snap.revision)
        inputs = Inputs(
            name=name,
            desired_revision=w.snap.revision,
            observed=w.observed.get(name),
            applied=w.applied.get(name),
            action=result.for_agent(name),
            in_flight=bool(old and old.condition("Reconciling").reason == "Progressing"),
            retry=retry,
            suspended=bool(spec and spec.suspended),
        )
        status = derive(inputs, mono_now=time.monotonic())
        if old is not None:
            status.history.extend(old.history)
            status = _with_retry(status, old)
        out.append(status)
    return out


def _recorded_retry(old: AgentStatus | None, revision: str) -> Retry:
    """The loop's failure streak as it recorded it. A permanent failure (no sandbox on this host, a
    bad build) holds until desired state changes, so while the recorded revision is current the
    agent is still Stalled: `hive status` must say so, as the dashboard does."""
    if old is None:
        return Retry()
    stalled = old.condition("Stalled")
    permanent = stalled.status and stalled.reason == "PermanentError" and old.desired_revision == revision
    return Retry(failures=old.failures, error=old.last_error or "", permanent=permanent)


def _with_retry(status: AgentStatus, old: AgentStatus) -> AgentStatus:
    from dataclasses import replace

    return replace(status, next_retry=old.next_retry, last_error=old.last_error)
