"""get_open_threads, cancel_thread, whoami, and the harness's lifecycle ops hello, report, turn_usage
and turn_slot."""

from __future__ import annotations

import asyncio
import logging

from desired import proposals
from hive_core.core import Caller, HostCore
from hive_core.events import HarnessHello, LoggedIn, NeedsLogin
from hive_core.ledger import Source
from hive_core.ops import budgeting
from hive_core.ops.asking import cancel_question
from hive_core.ops.registry import handles, on_hangup
from hive_core.ops.reminding import cancel_reminder
from hive_kit import wire
from hive_kit.errors import BudgetPausedError
from hive_kit.names import Role

log = logging.getLogger(__name__)


def _pending_approvals(core: HostCore, caller: Caller) -> list[wire.PendingProposal]:
    repo = core.desired.repo
    if repo is None or caller.role is Role.OPERATOR:
        return []
    mine = [p for p in proposals.pending(repo) if p.author.startswith(f"{caller.name} <")]
    return [
        wire.PendingProposal(id=p.id, description=p.description, created_at=p.created_at.timestamp())
        for p in mine
    ]


@handles(wire.GetOpenThreads)
def get_open_threads(core: HostCore, caller: Caller, req: wire.GetOpenThreads) -> wire.OpenThreads:
    approvals = _pending_approvals(core, caller)
    asked = core.questions.open_asked_by(caller.name)
    to_me = core.questions.open_asked_of(caller.name)
    reminders = core.reminders.listing(caller.name, include_done=False, limit=1000)
    return wire.OpenThreads(
        approvals=approvals,
        questions_asked=asked,
        questions_to_me=to_me,
        reminders=reminders,
        counts={
            "approvals": len(approvals),
            "questions_asked": len(asked),
            "questions_to_me": len(to_me),
            "reminders": len(reminders),
        },
    )


@handles(wire.CancelThread)
def cancel_thread(core: HostCore, caller: Caller, req: wire.CancelThread) -> wire.Done:
    if req.kind == "question":
        question = cancel_question(core, caller, req.id)
        return wire.Done(note=f"question #{question.id} cancelled: {question.answer}")
    cancel_reminder(core, caller, req.id)
    return wire.Done(note=f"reminder #{req.id} cancelled")


@handles(wire.Whoami)
def whoami(core: HostCore, caller: Caller, req: wire.Whoami) -> wire.WhoamiResult:
    snapshot = core.desired.current()
    return wire.WhoamiResult(
        name=caller.name,
        role=caller.role,
        operator_pronouns=snapshot.state.settings.operator_pronouns,
        revision=snapshot.revision,
    )


@handles(wire.Hello)
def hello(core: HostCore, caller: Caller, req: wire.Hello) -> wire.Done:
    requeued = core.broker.redeliver(caller.name)
    core.harnesses.record(caller.name, req.pid, req.web_port)
    core.events.publish(HarnessHello(agent=caller.name, pid=req.pid, web_port=req.web_port))
    log.info(
        "harness of %s says hello (pid %d, port %d); %d messages requeued",
        caller.name,
        req.pid,
        req.web_port,
        requeued,
    )
    return wire.Done(note=f"hello {caller.name}; {requeued} unacked messages will be handed out again")


@handles(wire.Report)
def report(core: HostCore, caller: Caller, req: wire.Report) -> wire.Done:
    if req.status == "needs_login":
        core.events.publish(NeedsLogin(agent=caller.name))
    else:
        core.events.publish(LoggedIn(agent=caller.name))
    return wire.Done(note=f"recorded {req.status}")


@handles(wire.TurnSlot)
async def turn_slot(core: HostCore, caller: Caller, req: wire.TurnSlot) -> wire.SlotGranted:
    """Park until a slot is free; the slot stays the caller's until this connection closes.

    While the caller's spend today in the host's ledger is at its budget it gets no slot
    (``hive_core.ops.budgeting``): refused at once (``BudgetPausedError``, ``paused: budget``), or
    with ``wait`` held here until a raised budget, the operator's "resume for today" or 00:00 UTC
    lets it run (``hive_core.budget_gate``). Its mail stays queued either way.
    """
    why = await budgeting.refusal(core, caller.name)
    if why is not None:
        budgeting.paused(core, caller.name, why)
        if not req.wait:
            raise BudgetPausedError(why)
        log.info("%s: turn held until its budget allows", caller.name)
        await core.budget_gate.hold(caller.name, lambda: budgeting.refusal(core, caller.name))
    budgeting.running(core, caller.name)
    slots = core.turn_slots
    ticket = slots.ask(caller.name)
    on_hangup.get()(lambda: slots.release(ticket))
    if not ticket.granted.done():
        log.info("%s waits for a turn slot (%d in line)", caller.name, len(slots.usage().queued))
    await ticket.granted
    usage = slots.usage()
    waited = (ticket.granted_at or ticket.asked_at) - ticket.asked_at
    return wire.SlotGranted(waited_seconds=round(waited, 3), limit=usage.limit, running=len(usage.running))


def _turn_source(core: HostCore, agent: str, started_at: float) -> Source:
    """``claimed`` when the host's gateway measured calls of this agent since the turn began (its
    tokens are counted from those rows; docs/governance.md), else ``harness``."""
    since = max(started_at, core.clock() - 86400.0)
    return Source.CLAIMED if core.ledger.gateway_since(agent, since) else Source.HARNESS


@handles(wire.TurnUsage)
async def turn_usage(core: HostCore, caller: Caller, req: wire.TurnUsage) -> wire.Done:
    """Into the host's ledger under the socket's agent name (``hive_core.ledger``); a repeat is a no-op.

    In a thread: the ledger's commit (and, every thousand pages, its WAL checkpoint) never
    holds the event loop.
    """
    source = await asyncio.to_thread(_turn_source, core, caller.name, req.started_at)
    if not await asyncio.to_thread(core.ledger.record, caller.name, req, source=source):
        return wire.Done(note=f"turn {req.turn_id} was already recorded")
    log.debug("%s: turn %s recorded in the ledger", caller.name, req.turn_id)
    return wire.Done(note=f"turn {req.turn_id} recorded")
