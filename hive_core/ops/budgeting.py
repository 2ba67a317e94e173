"""Budget pauses (issue 14 item 4): the refusal, the operator's one question a day, and its answers.

``turn_slot`` (``ops.agent``) calls ``refusal`` and, when the agent is over
its budget, ``paused``: the first refusal publishes ``BudgetPaused`` (the
manager's notice) and, once per agent per UTC day, asks the operator one
question with three answers (``OPTIONS``). ``answer_budget_question`` is what
``ops.asking.answer`` runs for the host's own budget questions only (known
by their row in ``budget_questions``, which no agent can write):

- *raise*: proposes the agent's ``budget`` at double (of the budget or of
  today's spend, whichever is more); the operator approves it as usual, the
  commit wakes the held turn.
- *resume for today*: a ``budget_overrides`` row; the held turn starts now.
- *keep paused*: nothing changes; tomorrow (UTC) the agent runs again.

The question's asker is ``system``: a reserved name no agent can take, so
no agent can cancel or answer it (only its target, the operator, can).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from desired.schema import Budget, DesiredState
from hive_core.budgets import PAUSED, budget_refusal, tokens_of
from hive_core.core import Caller, HostCore
from hive_core.events import BudgetPaused, BudgetResumed, QuestionAdded, QuestionResolved
from hive_core.ledger import day_start, utc_day
from hive_core.ops.managing import _record as record_proposal
from hive_kit import wire
from hive_kit.changes import ChangeSet, SetAgentField
from hive_kit.errors import ConflictError, UserError
from hive_kit.names import OPERATOR, SYSTEM

log = logging.getLogger(__name__)

RAISE, RESUME, KEEP = "raise the budget", "resume for today", "keep paused"
MIN_RAISE_USD = 1.0  # a budget of $0 doubled is still $0
MIN_RAISE_TOKENS = 1_000_000


async def refusal(core: HostCore, agent: str) -> str | None:
    """``budget_refusal`` for ``agent`` now, with the operator's resume-for-today; disk reads in a thread."""
    now = core.clock()
    resumed = core.budget_holds.resumed(agent, utc_day(now))
    return await asyncio.to_thread(
        lambda: budget_refusal(core.desired.current().state, core.ledger, agent, now, resumed=resumed)
    )


def paused(core: HostCore, agent: str, why: str) -> None:
    """The host refused ``agent`` a turn: tell the manager the first time, ask the operator once a day."""
    if agent not in core.budget_gate.paused:
        log.warning("%s: %s", agent, why)
        core.events.publish(BudgetPaused(agent=agent, reason=why))
    core.budget_gate.paused[agent] = why
    day = utc_day(core.clock())
    if core.budget_holds.asked(agent, day) is None:
        _ask_operator(core, agent, why, day)


def running(core: HostCore, agent: str) -> None:
    """``agent`` was let through: if it was paused, say how it got out and close the open question."""
    if core.budget_gate.paused.pop(agent, None) is None:
        return
    day = utc_day(core.clock())
    resumed = core.budget_holds.resumed(agent, day)
    how = "the operator resumed it for today" if resumed else "its budget allows it again"
    log.info("%s: runs again (%s)", agent, how)
    core.events.publish(BudgetResumed(agent=agent, how=how))
    qid = core.budget_holds.asked(agent, day)
    if qid is not None and not resumed:
        try:
            done = core.questions.resolve(qid, f"[no longer needed: {how}]", SYSTEM)
        except ConflictError:
            return  # answered already
        _published(core, done)


def raised(budget: Budget, spent_usd: float, spent_tokens: int) -> dict[str, Any]:
    """The budget the *raise* answer proposes: each measure that is capped, doubled (of the budget
    or of what was spent, whichever is more), never less than MIN_RAISE_*."""
    out: dict[str, Any] = {}
    if budget.usd_per_day is not None:
        usd = max(budget.usd_per_day, spent_usd) * 2
        out["usd_per_day"] = max(math.ceil(usd * 100) / 100, MIN_RAISE_USD if usd == 0 else 0.01)
    if budget.tokens_per_day is not None:
        out["tokens_per_day"] = max(max(budget.tokens_per_day, spent_tokens) * 2, MIN_RAISE_TOKENS)
    return out


def _shown(budget: dict[str, Any]) -> str:
    parts = []
    if "usd_per_day" in budget:
        parts.append(f"${budget['usd_per_day']:.2f}")
    if "tokens_per_day" in budget:
        parts.append(f"{budget['tokens_per_day']} tokens")
    return " and ".join(parts) + " a day"


def _proposed_budget(state: DesiredState, core: HostCore, agent: str) -> dict[str, Any] | None:
    budget = state.budget_for(agent) if agent in state.agents else None
    if budget is None:
        return None
    spent = core.ledger.spend(agent, since=day_start(utc_day(core.clock())))
    return raised(budget, spent.cost_usd, tokens_of(spent))


def _ask_operator(core: HostCore, agent: str, why: str, day: str) -> None:
    budget = _proposed_budget(core.desired.state, core, agent)
    raise_text = (
        f"{RAISE} to {_shown(budget)} (double; proposes agents/{agent}.json `budget`, you approve it)"
        if budget
        else RAISE
    )
    options = [raise_text, f"{RESUME} (until 00:00 UTC)", KEEP]
    detail = why.removeprefix(f"{PAUSED}: ")
    ask = "Raise its budget, resume it for today, or keep it paused?"
    text = f"{agent} is paused for its budget: {detail}. {ask}"
    question = core.questions.add(SYSTEM, OPERATOR, text, options)
    core.budget_holds.record_question(question.id, agent, day)
    core.events.publish(QuestionAdded(id=question.id, asker=SYSTEM, target=OPERATOR, question=text[:500]))
    log.info("asked the operator about %s's budget: question #%d", agent, question.id)


def _published(core: HostCore, question: wire.Question) -> None:
    core.events.publish(
        QuestionResolved(
            id=question.id,
            asker=question.asker,
            target=question.target,
            answer=question.answer or "",
            answerer=question.answerer or "",
        )
    )


def _choice(question: wire.Question, answer: str) -> str:
    said = answer.strip().lower()
    for choice in (RAISE, RESUME, KEEP):
        if said.startswith(choice) or said == choice.split()[0]:
            return choice
    raise UserError(
        f"question #{question.id} takes one of: {RAISE!r}, {RESUME!r}, {KEEP!r} (or just raise / "
        f"resume / keep); you answered {answer[:80]!r}"
    )


async def answer_budget_question(
    core: HostCore, caller: Caller, question: wire.Question, agent: str, day: str, answer: str
) -> str:
    """Do what the operator chose; returns the answer to store (with the proposal's number, if any).

    Runs before the question is resolved, so a failed proposal leaves it open to answer again.
    """
    if question.answered_at is not None:
        raise ConflictError(
            f"question #{question.id} is already resolved: {question.answer!r}; nothing changed"
        )
    choice = _choice(question, answer)
    if choice == RESUME:
        if day != utc_day(core.clock()):
            raise ConflictError(
                f"question #{question.id} is about {day} (UTC), which is over: {agent}'s spend counts "
                f"from zero today, so there is nothing to resume; answer {KEEP!r} to close it"
            )
        core.budget_holds.resume(agent, day, caller.name, core.clock())
        core.budget_gate.poke()
        log.info("%s resumed %s for %s (UTC) despite its budget", caller.name, agent, day)
        return f"{RESUME} ({day} UTC)"
    if choice == KEEP:
        return f"{KEEP} (until 00:00 UTC, or until its budget is raised)"
    budget = _proposed_budget(core.desired.current().state, core, agent)
    if budget is None:
        raise ConflictError(
            f"{agent} has no budget any more; nothing to raise (answer {RESUME!r} or {KEEP!r})"
        )
    changes = ChangeSet(ops=[SetAgentField(name=agent, field="budget", value=budget)])
    result = await record_proposal(core, caller, changes, f"raise {agent}'s budget to {_shown(budget)}")
    return f"{RAISE} to {_shown(budget)}: proposal #{result.proposal_id}; approve it to resume {agent}"
