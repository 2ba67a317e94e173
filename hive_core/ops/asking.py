"""ask, answer, and the two other ways a question ends: its TTL runs out, or it is cancelled."""

from __future__ import annotations

import logging

from hive_core.core import Caller, HostCore
from hive_core.events import QuestionAdded, QuestionResolved
from hive_core.ops.budgeting import answer_budget_question
from hive_core.ops.registry import handles
from hive_core.routing import check_allowed, known_names
from hive_kit import wire
from hive_kit.errors import ConflictError, ForbiddenError, NotFoundError, UserError
from hive_kit.names import OPERATOR, SYSTEM, Role

log = logging.getLogger(__name__)


def _target(core: HostCore, caller: Caller, to: str | None) -> str:
    if to is None or to == OPERATOR:
        return OPERATOR
    state = core.desired.state
    name = state.resolve_recipient(to)
    if name not in state.agents:
        raise NotFoundError(f"no agent named {to!r} to ask; you can ask: {known_names(state)}")
    if name == caller.name:
        raise UserError("you cannot ask yourself a question; ask the operator (leave out `to`) or a peer")
    check_allowed(state, caller.name, to, [name])
    return name


def _options_text(question: wire.Question) -> str:
    if not question.options:
        return ""
    pick = "one or more of" if question.multi else "one of"
    return f"\noptions ({pick}): " + " | ".join(question.options)


@handles(wire.Ask)
def ask(core: HostCore, caller: Caller, req: wire.Ask) -> wire.QuestionResult:
    target = _target(core, caller, req.to)
    question = core.questions.add(caller.name, target, req.question, req.options, req.multi, req.ttl_seconds)
    core.events.publish(
        QuestionAdded(id=question.id, asker=caller.name, target=target, question=req.question[:500])
    )
    if target != OPERATOR:
        core.broker.system(
            target,
            f"[question #{question.id} from {caller.name}] {req.question}{_options_text(question)}\n"
            f"answer it with answer(id={question.id}, answer=...)",
        )
    if question.deadline_at is not None:
        core.poke_deadlines()
    log.info("%s asked %s question #%d", caller.name, target, question.id)
    return wire.QuestionResult(question=question)


def finish(core: HostCore, question: wire.Question, *, tell_asker: bool = True) -> None:
    """Publish the resolution and put the answer in the asker's inbox."""
    answer, answerer = question.answer or "", question.answerer or ""
    core.events.publish(
        QuestionResolved(
            id=question.id, asker=question.asker, target=question.target, answer=answer, answerer=answerer
        )
    )
    if tell_asker and question.asker not in (OPERATOR, SYSTEM):  # the host's own questions: no inbox
        core.broker.system(
            question.asker,
            f"[answer to question #{question.id} from {answerer}] {answer}\n"
            f"(you asked {question.target}: {question.question[:300]})",
        )


@handles(wire.AnswerQuestion)
async def answer(core: HostCore, caller: Caller, req: wire.AnswerQuestion) -> wire.QuestionResult:
    question = core.questions.get(req.id)
    if caller.role is not Role.OPERATOR and question.target != caller.name:
        raise ForbiddenError(
            f"question #{req.id} was asked of {question.target}, not you; only its target "
            "(or the operator) may answer it"
        )
    text = req.answer
    budget = core.budget_holds.question(req.id)  # the host's own "paused: budget" question
    if budget is not None:
        text = await answer_budget_question(core, caller, question, *budget, req.answer)
    resolved = core.questions.resolve(req.id, text, caller.name)
    log.info("%s answered question #%d from %s", caller.name, req.id, question.asker)
    finish(core, resolved)
    return wire.QuestionResult(question=resolved)


def cancel_question(core: HostCore, caller: Caller, qid: int) -> wire.Question:
    question = core.questions.get(qid)
    if caller.role is not Role.OPERATOR and question.asker != caller.name:
        raise ForbiddenError(
            f"question #{qid} was asked by {question.asker}; only they (or the operator) may cancel it"
        )
    resolved = core.questions.resolve(qid, wire.cancelled_by(caller.name), caller.name)
    finish(core, resolved, tell_asker=caller.name != question.asker)
    return resolved


def expire_overdue(core: HostCore, now: float) -> int:
    """Answer every question past its deadline with ``[expired]``; returns how many."""
    expired = 0
    for question in core.questions.overdue(now):
        try:
            resolved = core.questions.resolve(question.id, wire.EXPIRED, wire.TTL_WATCHDOG)
        except ConflictError:
            continue  # answered a moment ago: the answer wins
        log.info("question #%d from %s to %s expired", question.id, question.asker, question.target)
        finish(core, resolved)
        expired += 1
    return expired


@handles(wire.ListQuestions)
def list_questions(core: HostCore, caller: Caller, req: wire.ListQuestions) -> wire.Questions:
    return wire.Questions(
        questions=core.questions.listing(include_answered=req.include_answered, limit=req.limit)
    )
