"""Observing the world: desired state, the runtime's containers, and the applied records.

Shared by the loop and the read-only paths (`hive reconcile --dry-run`,
`hive status`), which pass no writable store and must change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from desired.repo import MetaRepo, Snapshot
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.model import Applied, Observed, runs_as_applied, spec_view
from reconciler.runtime.base import Runtime
from reconciler.store import DeployStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    snap: Snapshot
    observed: dict[str, Observed]
    applied: dict[str, Applied]
    adopted: tuple[Applied, ...] = ()  # applied records recovered from build files, not yet stored


async def observe(layout: StateLayout, repo: MetaRepo, runtime: Runtime, store: DeployStore | None) -> World:
    snap = repo.load()
    inventory = store.inventory() if store else {}
    observed = {name: replace(o, managed=name in inventory) for name, o in (await runtime.list()).items()}
    applied = {}
    if store is not None:
        applied = {
            name: Applied(r.name, r.revision, r.fingerprint, r.spec) for name, r in store.applied().items()
        }
    adopted = tuple(_adoptable(layout, snap, observed, applied))
    applied.update({a.name: a for a in adopted})
    return World(snap, observed, applied, adopted)


def _adoptable(
    layout: StateLayout, snap: Snapshot, observed: dict[str, Observed], applied: dict[str, Applied]
) -> list[Applied]:
    """Containers created just before a daemon died: their build files say what they run."""
    out = []
    for name, obs in observed.items():
        if not obs.managed or name in applied or name not in snap.state.agents:
            continue
        try:
            config = AgentLaunchConfig.read(layout.agent_build(name) / "agent.json")
        except (OSError, ValueError):
            continue
        # what it runs is its build's: with that description, so a later edit plans as metadata
        view = {**spec_view(snap.state, name), "description": config.description}
        if runs_as_applied(snap.state, name, config.fingerprint, view):
            out.append(Applied(name, config.revision, config.fingerprint, view))
    return out
