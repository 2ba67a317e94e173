"""The first paint: everything the dashboard shows, as of one event ``seq``, as one JSON object.

``hive_web.readers.snapshot.gather`` reads the parts (the seq first, see
there); this puts them together in the shape the page's ``hive.state()``
holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from desired.repo import Snapshot
from hive_web.views.approvals import Approvals, approvals_json
from hive_web.views.kept import KeptDir, kept_rows
from hive_web.views.swarm import add_facts, merge_status, settings_json, swarm_rows
from hive_web.views.threads import Threads, threads_json


@dataclass(frozen=True)
class SnapshotParts:
    seq: int
    desired: Snapshot
    approvals: Approvals
    kept: tuple[KeptDir, ...]
    statuses: Mapping[str, dict[str, Any]] | None  # None: no reconciler link
    costs: Mapping[str, float | None]
    needs_login: Set[str]
    threads: Threads | None  # None: no host core
    reconciler_live: bool
    lifecycle: bool
    insecure_sandbox: str | None = None  # why agents run without their sandbox (--insecure-sandbox)
    paused: Mapping[str, str] = field(default_factory=dict)  # agent → why it gets no turn (budget)


def snapshot_json(parts: SnapshotParts) -> dict[str, Any]:
    state = parts.desired.state
    agents = swarm_rows(state)
    if parts.statuses is not None:
        agents = merge_status(agents, dict(parts.statuses))
    add_facts(agents, dict(parts.costs), parts.needs_login, parts.paused)
    return {
        "seq": parts.seq,
        "revision": parts.desired.revision,
        "settings": settings_json(state),
        "agents": agents,
        "approvals": approvals_json(parts.approvals),
        "kept": kept_rows(parts.kept),
        **threads_json(parts.threads),
        "features": {"reconciler": parts.reconciler_live, "lifecycle": parts.lifecycle},
        "insecure_sandbox": parts.insecure_sandbox,
    }
