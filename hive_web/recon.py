"""What the dashboard reads from the reconciler, and the two things it may ask of it.

Reads go through ``reconciler.readonly``: the status the loop last recorded
(from the deploy store, with each agent's history) and a dry-run plan
(what a pass would do now, with reasons). Neither writes anything. The
asks are "purge this kept state dir" (a pass with ``purge=[name]``: the
reconciler removes it, never the dashboard) and the runtime's bounded log
tail. ``attach`` is called by the daemon once the loop is running.
"""

from __future__ import annotations

from typing import Any

from desired.schema import DesiredState
from hive_kit.errors import NotFoundError, UnavailableError
from hive_kit.paths import StateLayout
from reconciler.loop import Reconciler
from reconciler.plan import plan
from reconciler.readonly import dry_run, recorded_statuses, world
from reconciler.runtime.base import Runtime

MAX_LOG_LINES = 5000


class ReconcilerLink:
    def __init__(self, layout: StateLayout, *, runtime: Runtime | None = None) -> None:
        self.layout = layout
        self._runtime = runtime
        self.loop: Reconciler | None = None

    def attach(self, loop: Reconciler) -> None:
        self.loop = loop

    @property
    def live(self) -> bool:
        """Whether a plan and logs can be had (a loop attached, or a runtime given)."""
        return self.loop is not None or self._runtime is not None

    @property
    def runtime(self) -> Runtime:
        runtime = self.loop.runtime if self.loop is not None else self._runtime
        if runtime is None:
            raise UnavailableError("the reconciler is not running in this daemon; no plan or logs")
        return runtime

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Each agent's recorded status (conditions, revisions, runtime state, history)."""
        return {s.name: s.to_json() for s in recorded_statuses(self.layout)}

    async def plan(self) -> dict[str, Any]:
        return (await dry_run(self.layout, self.runtime)).to_json()

    async def plan_for(self, state: DesiredState, revision: str) -> dict[str, Any]:
        """The plan a pass would carry out if ``state`` were desired state (the editor's preview)."""
        w = await world(self.layout, self.runtime)
        return plan(state, revision, w.observed, w.applied).to_json()

    def logs(self, name: str, lines: int) -> list[str]:
        return self.runtime.logs(name, min(lines, MAX_LOG_LINES))

    async def purge(self, name: str) -> dict[str, Any]:
        if self.loop is None:
            raise UnavailableError("the reconciler is not running in this daemon; nothing can be purged")
        result = await self.loop.pass_once(purge=[name])
        action = result.for_agent(name)
        if action is None:
            raise NotFoundError(f"{name!r} has no kept state to purge (or is still in desired state)")
        return action.to_json()
