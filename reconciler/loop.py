"""The level-triggered loop: every pass observes everything, plans from scratch, and acts.

Triggers (a ref change, the periodic resync, "reconcile now", an action
finishing) only *wake* the loop; none of them carries what to do. Work is
kopf-style: at most one action in flight per agent (a trigger for a busy
agent collapses into the pass that runs after it finishes), a global cap on
concurrent actions, and per-agent backoff so one failing agent never holds
back the others.

A crash is a diff like any other: an agent desired running whose container
has exited is restarted under backoff; the transition running → exited also
emits one ``container_crash`` event. The first pass only seeds what it saw,
so a daemon start-up does not flood the manager with old crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

from desired.repo import MetaRepo, Snapshot
from desired.schema import agent_fingerprint
from hive_core.control import HarnessRegistry
from hive_core.events import AgentConditionChanged, ContainerCrash
from hive_kit.errors import HiveError, PermanentError, TemporaryError
from hive_kit.paths import StateLayout
from reconciler import act
from reconciler.backoff import Policy, Retry, failed, forgive
from reconciler.events import EventSink, LogSink
from reconciler.health import AgentSockets, AliveHealth, NoSockets
from reconciler.model import (
    Action,
    ActionKind,
    Applied,
    ContainerState,
    Observed,
    Plan,
    runs_as_applied,
    spec_view,
    wants_running,
)
from reconciler.observe import observe
from reconciler.plan import plan
from reconciler.runtime.base import Runtime
from reconciler.status import READY, STALLED, AgentStatus, Inputs, derive, save_statuses
from reconciler.store import DeployStore, HistoryRow, deploys_path, open_deploys
from reconciler.tags import AgentHealth, settle_proposals

log = logging.getLogger(__name__)

STABLE_AFTER = 600.0
"""Seconds an agent must run after its last failure's retry time before its streak is forgotten."""


@dataclass(frozen=True)
class LoopSettings:
    resync: float = 30.0  # seconds between periodic passes (±10 % jitter)
    concurrency: int = 4
    health_timeout: float = 30.0
    backoff: Policy = field(default_factory=Policy)


class Reconciler:
    def __init__(
        self,
        layout: StateLayout,
        runtime: Runtime,
        *,
        store: DeployStore | None = None,
        health: HarnessRegistry | None = None,
        sockets: AgentSockets | None = None,
        events: EventSink | None = None,
        settings: LoopSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.layout = layout
        self.settings = settings or LoopSettings()
        self.repo = MetaRepo(layout.meta)
        self.runtime = runtime
        self.store = store or open_deploys(deploys_path(layout.root))
        self.events = events or LogSink()
        self.ctx = act.Context(
            layout,
            runtime,
            self.store,
            health or AliveHealth(runtime),
            sockets or NoSockets(),
            self.events,
            self.settings.health_timeout,
        )
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.wake = asyncio.Event()
        self.retry: dict[str, Retry] = {}
        self.degraded: dict[str, tuple[str, float]] = {}  # name → (why, since when: unix time)
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.last_plan: Plan | None = None
        self._seen: dict[str, ContainerState] | None = None
        self._self_restarts: dict[str, int] = {}  # name → the last SelfRestart.seq reported
        self._conditions: dict[tuple[str, str], tuple[bool, str]] = {}
        self._touched: dict[str, frozenset[str]] = {}  # proposal id → the agents it touches
        self._sem = asyncio.Semaphore(self.settings.concurrency)
        self.progress: Callable[[str], None] = lambda line: log.info("%s", line)

    # ---- triggers ------------------------------------------------------------------------------

    def poke(self) -> None:
        """Wake the loop for a pass (a ref changed, an action finished)."""
        self.wake.set()

    def reconcile_now(self) -> None:
        """The operator asked: retry everything at once, stalled agents included."""
        self.retry = {name: forgive(r) for name, r in self.retry.items()}
        self.wake.set()

    def force(self, name: str, kind: ActionKind, reason: str) -> bool:
        """Run ``kind`` for ``name`` now, whatever the plan says (restart, update, rebuild asked for).

        False, and nothing queued, while an action for ``name`` is in flight: the caller says
        so rather than promise an action that never runs.
        """
        if name in self.inflight:
            return False
        snap = self.repo.load()
        fingerprint = agent_fingerprint(snap.state, name)
        self.retry.pop(name, None)
        self._maybe_start(Action(name, kind, reason, (), snap.revision, fingerprint), snap)
        return True

    # ---- one pass ------------------------------------------------------------------------------

    async def observe(self) -> tuple[Snapshot, dict[str, Observed], dict[str, Applied]]:
        self.runtime.tidy()
        world = await observe(self.layout, self.repo, self.runtime, self.store)
        for rec in world.adopted:
            self.store.record_applied(rec.name, rec.revision, rec.fingerprint, rec.spec)
            log.info("agent %s: adopted its running container (revision %s)", rec.name, rec.revision[:12])
        return world.snap, world.observed, world.applied

    async def pass_once(self, purge: Collection[str] = ()) -> Plan:
        snap, observed, applied = await self.observe()
        self._detect_crashes(snap, observed)
        await self._recover_degraded()
        result = plan(snap.state, snap.revision, observed, applied, purge=purge)
        self._bump(snap, applied, result)
        self.last_plan = self._record_metadata(snap, applied, result)
        self._forget_moot(snap, result)
        if result.refused:
            log.error("reconcile refused: %s", result.refused)
        else:
            for action in result.actions:
                self._maybe_start(action, snap)
        statuses = self._record_status(snap, observed, applied, result)
        self._settle(snap, statuses)
        return result

    async def _recover_degraded(self) -> None:
        """A late hello (a slow start) clears a failed health gate without another action."""
        for name, (_, since) in list(self.degraded.items()):
            if name not in self.inflight and await self.ctx.health.wait_hello(name, since, 0.0):
                log.info("agent %s: said hello after its health gate had failed; healthy again", name)
                self.degraded.pop(name, None)
                self.retry.pop(name, None)

    def _bump(self, snap: Snapshot, applied: dict[str, Applied], result: Plan) -> None:
        """Agents with nothing to do run this revision too; a fingerprint of the old form is renewed."""
        busy = {a.name for a in result.actions} | set(self.inflight)
        same: dict[str, str] = {}
        for name, rec in applied.items():
            if name not in snap.state.agents or name in busy:
                continue
            fingerprint = agent_fingerprint(snap.state, name)
            moved = rec.revision != snap.revision or rec.fingerprint != fingerprint
            if moved and runs_as_applied(snap.state, name, rec.fingerprint, rec.spec):
                same[name] = fingerprint
        if same:
            self.store.bump_revision(list(same), snap.revision, same)
            for name, fingerprint in same.items():
                applied[name] = replace(applied[name], revision=snap.revision, fingerprint=fingerprint)

    def _record_metadata(self, snap: Snapshot, applied: dict[str, Applied], result: Plan) -> Plan:
        """Metadata-only changes are recorded in the pass itself: no task, no backoff, no restart.

        Returns the plan without them (what is left to do, for the statuses).
        """
        if result.refused:
            return result  # a refused plan applies nothing
        done = [a for a in result.actions if a.kind is ActionKind.METADATA and a.name not in self.inflight]
        for action in done:
            name, started = action.name, time.time()
            act.record_metadata(self.ctx, action, snap.state)
            applied[name] = Applied(name, action.revision, action.fingerprint, spec_view(snap.state, name))
            fields = ", ".join(c.field for c in action.changes)
            log.info("agent %s: %s changed, recorded at %s (%s)", name, fields, snap.short, action.reason)
            self.progress(f"~ {name}: {fields} recorded ({action.reason})")
            reason = f"{action.reason}: {fields} changed"
            self.store.add_history(
                HistoryRow(name, action.kind.value, reason, snap.revision, started, 0, "ok", None)
            )
        if not done:
            return result
        return replace(result, actions=tuple(a for a in result.actions if a not in done))

    def _forget_moot(self, snap: Snapshot, result: Plan) -> None:
        """An agent now desired stopped with nothing left to do has nothing to retry: not Stalled."""
        for name, spec in snap.state.agents.items():
            moot = not wants_running(snap.state, name) and not spec.suspended
            if moot and name in self.retry and name not in self.inflight and result.for_agent(name) is None:
                log.info("agent %s: stopped as desired; its failure streak is forgotten", name)
                self.retry.pop(name, None)
                self.degraded.pop(name, None)

    def _maybe_start(self, action: Action, snap: Snapshot) -> None:
        name = action.name
        if name in self.inflight or action.kind is ActionKind.METADATA:
            return  # metadata is recorded in the pass (``_record_metadata``)
        retry = self.retry.get(name, Retry())
        if not retry.ready(self.clock(), action.fingerprint, action.rebuild):
            return
        task = asyncio.create_task(self._run(action, snap), name=f"reconcile:{name}")
        self.inflight[name] = task

    async def _run(self, action: Action, snap: Snapshot) -> None:
        name = action.name
        async with self._sem:
            started, t0 = time.time(), self.clock()
            error: str | None = None
            log.info("agent %s: %s (%s)", name, action.kind.value, action.reason)
            self.progress(f"{action.kind.symbol} {name}: {action.kind.value} ({action.reason})")
            try:
                await act.apply(self.ctx, action, snap.state, self.progress)
                if action.kind not in (ActionKind.START, ActionKind.RESTART):
                    self.retry.pop(name, None)  # a restart that took is not yet a cure: see _detect_crashes
                self.degraded.pop(name, None)
            except act.HealthGateFailed as exc:
                error = self._failed(action, str(exc), permanent=False)
                self.degraded[name] = (str(exc), started)
            except TemporaryError as exc:
                error = self._failed(action, str(exc), permanent=False)
            except (PermanentError, HiveError) as exc:
                error = self._failed(action, str(exc), permanent=True)
            except Exception as exc:
                log.exception("agent %s: %s crashed", name, action.kind.value)
                error = self._failed(action, f"{type(exc).__name__}: {exc}", permanent=False)
            finally:
                self.inflight.pop(name, None)
                self.wake.set()
            duration = int((self.clock() - t0) * 1000)
            result = "failed" if error else "ok"
            self.store.add_history(
                HistoryRow(
                    name, action.kind.value, action.reason, snap.revision, started, duration, result, error
                )
            )
            self.progress(f"  {name}: {result}{': ' + error if error else ''}")

    def _failed(self, action: Action, error: str, *, permanent: bool) -> str:
        old = self.retry.get(action.name, Retry())
        policy = self.settings.backoff
        now = self.clock()
        new = failed(
            old,
            now,
            error,
            permanent=permanent,
            fingerprint=action.fingerprint,
            rng=self.rng,
            policy=policy,
            rebuild=action.rebuild,
        )
        self.retry[action.name] = new
        when = "until desired state changes" if permanent else f"retry in {new.next_at - self.clock():.1f}s"
        log.warning("agent %s: %s failed (%s); %s", action.name, action.kind.value, error, when)
        return error

    def _detect_crashes(self, snap: Snapshot, observed: dict[str, Observed]) -> None:
        seen = self._seen
        self._report_self_restarts(snap, observed, first=seen is None)
        # an agent with an action in flight is the action's business (its health gate), not a crash
        self._seen = {name: o.state for name, o in observed.items() if name not in self.inflight}
        if seen is None:
            return  # first pass: seed only, no storm of old news
        for name, obs in observed.items():
            if name in self.inflight or name not in snap.state.agents:
                continue
            # STOPPED counts too: nixos-container reports only up/down, and no action of ours was running
            gone = obs.state in (ContainerState.EXITED, ContainerState.STOPPED)
            crashed = seen.get(name) is ContainerState.RUNNING and gone
            if crashed and wants_running(snap.state, name):
                code = "" if obs.exit_code is None else f" with code {obs.exit_code}"
                detail = f"container exited unexpectedly{code}"
                log.warning("agent %s: %s", name, detail)
                self.events.emit(ContainerCrash(agent=name, detail=detail))
                self._crashed(name, detail, agent_fingerprint(snap.state, name))
            elif obs.state is ContainerState.RUNNING:
                self._forget_if_stable(name)

    def _report_self_restarts(self, snap: Snapshot, observed: dict[str, Observed], *, first: bool) -> None:
        """Crashes the runtime restarted itself (Kubernetes): one event each, nothing to restart,
        no backoff (the kubelet has its own). Like other crashes: none on the first pass, and none
        for an agent whose action is in flight."""
        for name, obs in observed.items():
            last = self._self_restarts.get(name, 0)
            new = [r for r in obs.self_restarts if r.seq > last]
            if not new:
                continue
            self._self_restarts[name] = new[-1].seq
            if first or name in self.inflight or name not in snap.state.agents:
                continue
            for restart in new:
                log.warning("agent %s: %s", name, restart.detail)
                self.events.emit(ContainerCrash(agent=name, detail=restart.detail))

    def _crashed(self, name: str, detail: str, fingerprint: str) -> None:
        """Each crash lengthens the wait before the next restart: a crash loop backs off and stalls."""
        old = self.retry.get(name, Retry())
        self.retry[name] = failed(
            old,
            self.clock(),
            detail,
            permanent=False,
            fingerprint=fingerprint,
            rng=self.rng,
            policy=self.settings.backoff,
        )

    def _forget_if_stable(self, name: str) -> None:
        retry = self.retry.get(name)
        if retry is not None and not retry.permanent and self.clock() - retry.next_at > STABLE_AFTER:
            log.info("agent %s: running steadily again; its failure streak is forgotten", name)
            self.retry.pop(name, None)

    # ---- status --------------------------------------------------------------------------------

    def statuses(
        self, snap: Snapshot, observed: dict[str, Observed], applied: dict[str, Applied]
    ) -> list[AgentStatus]:
        result = self.last_plan
        names = sorted(snap.state.agents.keys() | {n for n, o in observed.items() if o.managed})
        out = []
        for name in names:
            spec = snap.state.agents.get(name)
            inputs = Inputs(
                name=name,
                desired_revision=snap.revision,
                observed=observed.get(name),
                applied=applied.get(name),
                action=result.for_agent(name) if result else None,
                in_flight=name in self.inflight,
                retry=self.retry.get(name, Retry()),
                suspended=bool(spec and spec.suspended),
                degraded=self.degraded[name][0] if name in self.degraded else None,
            )
            out.append(derive(inputs, mono_now=self.clock()))
        return out

    def _record_status(
        self, snap: Snapshot, observed: dict[str, Observed], applied: dict[str, Applied], result: Plan
    ) -> list[AgentStatus]:
        statuses = self.statuses(snap, observed, applied)
        save_statuses(self.store, statuses)
        seeding = not self._conditions  # the first pass records what is, and announces nothing
        for status in statuses:
            for cond in status.conditions:
                key, value = (status.name, cond.type), (cond.status, cond.reason)
                if self._conditions.get(key) != value:
                    self._conditions[key] = value
                    if seeding:
                        continue
                    self.events.emit(
                        AgentConditionChanged(
                            agent=status.name,
                            condition=cond.type,
                            status=cond.status,
                            reason=cond.reason,
                            message=cond.message,
                        )
                    )
        return statuses

    def _settle(self, snap: Snapshot, statuses: list[AgentStatus]) -> None:
        """Approved proposals are settled by the agents they touch (reconciler.tags)."""
        health = {s.name: self._health(snap, s) for s in statuses}
        settle_proposals(self.repo, snap.revision, health, self.events, cache=self._touched)

    def _health(self, snap: Snapshot, status: AgentStatus) -> AgentHealth:
        name = status.name
        ready, stalled = status.condition(READY), status.condition(STALLED)
        # a stall recorded against an older spec is stale: the new spec is being tried at once
        current = agent_fingerprint(snap.state, name) if name in snap.state.agents else ""
        fresh = self.retry.get(name, Retry()).fingerprint == current
        error = stalled.message if stalled.status and not ready.status and fresh else None
        # a suspended agent is Ready as it is; it runs this revision only if nothing changed for it
        running_it = ready.reason != "Suspended" or status.applied_revision == snap.revision
        return AgentHealth(ready=ready.status and running_it, stalled=error)

    # ---- running -------------------------------------------------------------------------------

    async def drain(self) -> None:
        while self.inflight:
            await asyncio.gather(*list(self.inflight.values()), return_exceptions=True)

    async def apply_once(self, purge: Collection[str] = ()) -> Plan:
        """One pass, waiting for its actions (`hive reconcile`); no retries."""
        result = await self.pass_once(purge)
        await self.drain()
        if result.actions and not result.refused:
            snap, observed, applied = await self.observe()
            self.last_plan = plan(snap.state, snap.revision, observed, applied)
            statuses = self._record_status(snap, observed, applied, self.last_plan)
            self._settle(snap, statuses)
        return result

    def _next_timeout(self) -> float:
        resync = self.settings.resync * self.rng.uniform(0.9, 1.1)
        now = self.clock()
        waits = [r.next_at - now for r in self.retry.values() if not r.permanent and r.next_at > now]
        return max(0.01, min([resync, *waits]))

    async def run(self) -> None:
        """Forever: a pass, then sleep until woken, a retry falls due, or the resync interval."""
        while True:
            self.wake.clear()
            try:
                await self.pass_once()
            except HiveError as exc:
                log.error("reconcile pass failed: %s", exc)
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the cancel that stops
            # this loop when a wake-up lands at the same moment (gh-86296); the loop then never ends
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_timeout()):
                    await self.wake.wait()

    async def close(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()
        await asyncio.gather(*list(self.inflight.values()), return_exceptions=True)
