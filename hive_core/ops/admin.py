"""The operator's read and control ops: events (one batch), reconcile_now, rebuild, status, dashboard_login,
egress. (`restart`, shared with the manager, is in ``managing``.)"""

from __future__ import annotations

from desired.schema import DesiredState
from hive_core.budgets import budget_refusal
from hive_core.core import Caller, HostCore
from hive_core.events import event_dict
from hive_core.ledger import utc_day
from hive_core.ops.registry import handles
from hive_core.stores.spawns import day_bounds
from hive_kit import wire
from hive_kit.errors import NotFoundError


@handles(wire.Events)
def events(core: HostCore, caller: Caller, req: wire.Events) -> wire.EventsBatch:
    """One batch; ``follow`` is handled by the connection loop (it keeps writing batches)."""
    return events_batch(core, req.since, req.limit)


def events_batch(core: HostCore, since: int, limit: int) -> wire.EventsBatch:
    found = core.events.read_since(since, limit)
    next_seq = found[-1].seq if found else max(since, 0)
    return wire.EventsBatch(events=[event_dict(e) for e in found], next_seq=next_seq)


@handles(wire.ReconcileNow)
def reconcile_now(core: HostCore, caller: Caller, req: wire.ReconcileNow) -> wire.Done:
    core.require_reconciler().request_reconcile(req.reason)
    return wire.Done(note="a reconcile pass is on its way")


@handles(wire.Rebuild)
async def rebuild(core: HostCore, caller: Caller, req: wire.Rebuild) -> wire.Done:
    """`hive rebuild NAME`: edits nothing in desired state; the reconciler replaces the container once."""
    agents = core.desired.current().state.agents
    if req.name not in agents:
        known = ", ".join(sorted(agents)) or "none"
        raise NotFoundError(f"no agent named {req.name!r} (agents: {known}); `hive agent list` shows them")
    return wire.Done(
        note=await core.require_reconciler().rebuild(req.name, by="the operator (`hive rebuild`)")
    )


@handles(wire.Status)
def status(core: HostCore, caller: Caller, req: wire.Status) -> wire.StatusResult:
    snapshot = core.desired.current()
    reconciler = core.reconciler
    return wire.StatusResult(
        agents=sorted(snapshot.state.agents),
        unread=core.broker.unread_counts(),
        open_questions=core.questions.count_open(),
        pending_reminders=core.reminders.count_pending(),
        last_seq=core.events.last_seq,
        revision=snapshot.revision,
        harnesses={
            name: {"pid": h.pid, "web_port": h.web_port, "at": h.at}
            for name, h in core.harnesses.all().items()
        },
        reconciler=dict(reconciler.status()) if reconciler is not None else None,
        version=wire.VERSION,
        dashboard=core.login_codes.base_url,
        caps=caps_usage(core),
        paused=still_paused(core, snapshot.state),
    )


def still_paused(core: HostCore, state: DesiredState) -> dict[str, str]:
    """The agents the host refused a turn for their budget that would still be refused now."""
    now = core.clock()
    day = utc_day(now)
    out = {}
    for agent in sorted(core.budget_gate.paused):
        resumed = core.budget_holds.resumed(agent, day)
        why = budget_refusal(state, core.ledger, agent, now, resumed=resumed)
        if why is not None:
            out[agent] = why
    return out


def caps_usage(core: HostCore) -> dict[str, object]:
    """hive.json's three caps (None: no cap) beside what is used of each now."""
    state = core.desired.cached().state
    start, reset = day_bounds(core.clock())
    turns = core.turn_slots.usage()
    return {
        "agents": len(state.agents),
        "max_agents": state.settings.max_agents,
        "spawns_today": core.spawns.count_since(start),
        "max_spawns_per_day": state.settings.max_spawns_per_day,
        "spawns_reset_at": reset,
        "max_concurrent_turns": turns.limit,
        "turns_running": [list(r) for r in turns.running],
        "turns_queued": [list(q) for q in turns.queued],
    }


@handles(wire.DashboardLogin)
def dashboard_login(core: HostCore, caller: Caller, req: wire.DashboardLogin) -> wire.LoginLinkResult:
    link = core.login_codes.issue()
    return wire.LoginLinkResult(url=link.url, expires_at=link.expires_at)


@handles(wire.Egress)
def egress(core: HostCore, caller: Caller, req: wire.Egress) -> wire.EgressEntries:
    """An agent of desired state, or one that left it but still has rows in the log."""
    rows = core.egress_log.recent(req.agent, req.limit, denied_only=req.denied_only)
    agents = core.desired.current().state.agents
    if req.agent not in agents and not rows and not core.egress_log.recent(req.agent, 1):
        known = ", ".join(sorted(agents)) or "none"
        raise NotFoundError(f"no agent named {req.agent!r} (agents: {known}); `hive agent list` shows them")
    return wire.EgressEntries(
        agent=req.agent,
        allow=core.egress.texts(req.agent),
        entries=[wire.EgressEntry.model_validate(row) for row in rows],
    )
