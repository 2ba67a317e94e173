"""What the dashboard reads from the reconciler; it asks nothing of it here.

Reads go through ``reconciler.readonly``: the status the loop last recorded
(from the deploy store, with each agent's history), a dry-run plan (what a
pass would do now, with reasons) and the runtime's bounded log tail. None of
them writes anything. Restart, rebuild and purge are not here: they are
asks to the host core's ``ReconcilerControl`` (``hive_web.deps.Deps.control``).

``attach`` is called by the daemon once the loop is running, with the
runtime the loop drives: until then status still reads from the deploy
store, but there is no plan and no logs.
"""

from __future__ import annotations

from typing import Any

from desired.schema import DesiredState
from hive_kit.errors import UnavailableError
from hive_kit.paths import StateLayout
from reconciler.model import Plan
from reconciler.plan import plan
from reconciler.readonly import dry_run, recorded_statuses, world
from reconciler.runtime.base import MAX_LOG_LINES, Runtime, log_scope


class ReconcilerLink:
    def __init__(self, layout: StateLayout, *, runtime: Runtime | None = None) -> None:
        self.layout = layout
        self._runtime = runtime

    def attach(self, runtime: Runtime) -> None:
        """The running loop's runtime: plans and logs light up."""
        self._runtime = runtime

    @property
    def live(self) -> bool:
        """Whether a plan and logs can be had (a runtime attached or given)."""
        return self._runtime is not None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise UnavailableError("the reconciler is not running in this daemon; no plan or logs")
        return self._runtime

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Each agent's recorded status (conditions, revisions, runtime state, history)."""
        return {s.name: s.to_json() for s in recorded_statuses(self.layout)}

    async def plan(self) -> dict[str, Any]:
        return (await dry_run(self.layout, self.runtime)).to_json()

    async def plan_for(self, state: DesiredState, revision: str) -> dict[str, Any]:
        """The plan a pass would carry out if ``state`` were desired state (the editor's preview)."""
        return (await self.plan_at(state, revision)).to_json()

    async def plan_at(self, state: DesiredState, revision: str) -> Plan:
        """The same, as the reconciler's ``Plan`` (the Forgejo checks render it)."""
        w = await world(self.layout, self.runtime)
        return plan(state, revision, w.observed, w.applied)

    def logs(self, name: str, lines: int, scope: str) -> dict[str, Any]:
        """One log of the agent (``scope``: one the runtime offers, else a UserError) and the
        scopes there are, so the viewer offers exactly those."""
        runtime = self.runtime
        chosen = log_scope(scope, runtime.log_scopes, runtime.kind)
        text = runtime.logs(name, min(lines, MAX_LOG_LINES), chosen)
        return {"agent": name, "scope": chosen.value, "scopes": list(runtime.log_scopes), "lines": text}
