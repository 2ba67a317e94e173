"""Questions: who may answer, TTL expiry, cancel, and the answer landing in the asker's inbox."""

from __future__ import annotations

import pytest

from hive_core.schedulers import run_deadlines_once
from hive_kit import wire
from hive_kit.errors import ConflictError, ForbiddenError, UserError
from tests.core.conftest import FakeClock, Running


async def _inbox(daemon: Running, name: str) -> list[wire.Message]:
    return (await daemon.client(name).request(wire.Recv(max=32))).messages


async def test_peer_question_reaches_the_target_and_only_it_may_answer(daemon: Running) -> None:
    asked = await daemon.client("tester").request(
        wire.Ask(question="ship it?", options=["yes", "no"], to="peer")
    )
    qid = asked.question.id
    [notice] = await _inbox(daemon, "peer")
    assert notice.sender == "system"
    assert f"question #{qid} from tester" in notice.body and "yes | no" in notice.body
    with pytest.raises(ForbiddenError, match="asked of peer, not you"):
        await daemon.client("boss").request(wire.AnswerQuestion(id=qid, answer="no"))
    done = await daemon.client("peer").request(wire.AnswerQuestion(id=qid, answer="yes"))
    assert (done.question.answer, done.question.answerer) == ("yes", "peer")
    [answer] = await _inbox(daemon, "tester")
    assert answer.sender == "system" and f"question #{qid} from peer] yes" in answer.body
    with pytest.raises(ConflictError, match="already resolved: peer answered 'yes'"):
        await daemon.client("peer").request(wire.AnswerQuestion(id=qid, answer="no"))


async def test_operator_may_override_any_question(daemon: Running) -> None:
    asked = await daemon.client("tester").request(wire.Ask(question="which db?", to="peer"))
    listed = await daemon.client("operator").request(wire.ListQuestions())
    assert [q.id for q in listed.questions] == [asked.question.id]
    done = await daemon.client("operator").request(wire.AnswerQuestion(id=asked.question.id, answer="sqlite"))
    assert done.question.answerer == "operator"


async def test_self_ask_is_refused(daemon: Running) -> None:
    with pytest.raises(UserError, match="cannot ask yourself"):
        await daemon.client("tester").request(wire.Ask(question="me?", to="tester"))


async def test_ttl_expiry_answers_expired_from_the_watchdog(clocked: Running, clock: FakeClock) -> None:
    asked = await clocked.client("tester").request(wire.Ask(question="quick?", ttl_seconds=60))
    assert asked.question.deadline_at == clock.now + 60
    clock.advance(59)
    run_deadlines_once(clocked.daemon.core)
    assert (await clocked.client("operator").request(wire.ListQuestions())).questions
    clock.advance(2)
    run_deadlines_once(clocked.daemon.core)
    [q] = (await clocked.client("operator").request(wire.ListQuestions(include_answered=True))).questions
    assert (q.answer, q.answerer) == (wire.EXPIRED, wire.TTL_WATCHDOG)
    [m] = await _inbox(clocked, "tester")
    assert "[expired]" in m.body


async def test_cancel_by_asker_or_operator_only(daemon: Running) -> None:
    asked = await daemon.client("tester").request(wire.Ask(question="a?", to="peer"))
    qid = asked.question.id
    with pytest.raises(ForbiddenError, match="only they"):
        await daemon.client("peer").request(wire.CancelThread(kind="question", id=qid))
    await daemon.client("operator").request(wire.CancelThread(kind="question", id=qid))
    [q] = (await daemon.client("operator").request(wire.ListQuestions(include_answered=True))).questions
    assert q.answer == "[cancelled by operator]"
    told = [m.body for m in await _inbox(daemon, "tester")]
    assert any("[cancelled by operator]" in b for b in told)


async def test_open_threads_list_both_directions_with_counts(daemon: Running) -> None:
    await daemon.client("tester").request(wire.Ask(question="to peer", to="peer"))
    await daemon.client("peer").request(wire.Ask(question="to operator"))
    await daemon.client("peer").request(wire.Remind(message="later", delay_seconds=600))
    threads = await daemon.client("peer").request(wire.GetOpenThreads())
    assert [q.question for q in threads.questions_to_me] == ["to peer"]
    assert [q.question for q in threads.questions_asked] == ["to operator"]
    assert [r.message for r in threads.reminders] == ["later"]
    assert threads.counts == {"approvals": 0, "questions_asked": 1, "questions_to_me": 1, "reminders": 1}
