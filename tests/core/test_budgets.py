"""Budgets (issue 14 item 4): the host refuses a turn slot once today's ledger spend reaches the
agent's budget, holds a ``wait`` request until the agent may run again (a raised budget, the
operator's "resume for today", the next UTC day), asks the operator once a day and tells the manager.

Real parts: the daemon on its unix sockets, its sqlite ledger and a real meta repo. Usage rows go
into the daemon's ledger through its own API (as the ``turn_usage`` op would put them), and the
slot is asked for over the agent's socket, as its harness does. The clock is a fake one so the
UTC day does not roll over mid-test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from desired import proposals
from desired.changes import set_agent_field, set_setting
from desired.files import parse_agent, parse_settings
from desired.repo import MetaRepo
from desired.schema import AgentSpec, DesiredState, SwarmSettings, agent_fingerprint
from hive_kit import wire
from hive_kit.changes import ChangeSet, SetAgentField, SetSetting, self_change_refusal
from hive_kit.client import HiveClient
from hive_kit.errors import BudgetPausedError, ConflictError, ForbiddenError, UserError
from hive_kit.names import SYSTEM
from tests.conftest import subprocess_env
from tests.core.conftest import OPERATOR, FakeClock, Running


def usage(turn_id: str, cost: float, tokens: int = 100) -> wire.TurnUsage:
    model = wire.ModelUsage(model="claude-sonnet-4-5", input_tokens=tokens, cost_usd=cost)
    return wire.TurnUsage(turn_id=turn_id, models=[model], started_at=1.0, duration_ms=10, tool_calls=0)


def commit(running: Running, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    MetaRepo(running.layout.meta).commit(edit, author=OPERATOR, message=message)


async def test_a_spent_budget_refuses_the_turn_and_a_raised_one_grants_it_again(
    clocked: Running, clock: FakeClock
) -> None:
    ledger = clocked.daemon.core.ledger
    commit(clocked, lambda s: set_agent_field(s, "coder", "budget", {"usd_per_day": 0.05}), "budget")
    ledger.record("coder", usage("t1", 0.03))
    async with clocked.client("coder").turn_slot() as grant:
        assert grant.running == 1, "under budget: the turn is granted"

    ledger.record("coder", usage("t2", 0.03))
    with pytest.raises(BudgetPausedError, match=r"paused: budget.*\$0\.0600.*\$0\.0500.*agents/coder\.json"):
        async with clocked.client("coder").turn_slot():
            pass
    async with clocked.client("tester").turn_slot():
        pass  # another agent's spend is its own

    commit(clocked, lambda s: set_agent_field(s, "coder", "budget", {"usd_per_day": 1.0}), "raise")
    async with clocked.client("coder").turn_slot() as grant:
        assert grant.running == 1, "the raised budget applies to the next request, no restart"

    commit(clocked, lambda s: set_agent_field(s, "coder", "budget", {"usd_per_day": 0.05}), "lower")
    clock.advance(86_400)  # the next UTC day starts from zero
    async with clocked.client("coder").turn_slot():
        pass


async def test_the_swarm_budget_covers_agents_without_their_own_and_counts_tokens(
    clocked: Running,
) -> None:
    ledger = clocked.daemon.core.ledger
    commit(clocked, lambda s: set_setting(s, "budget", {"tokens_per_day": 500}), "swarm budget")
    ledger.record("tester", usage("t1", 0.0, tokens=500))
    with pytest.raises(BudgetPausedError, match=r"500 tokens.*hive\.json `budget`"):
        async with clocked.client("tester").turn_slot():
            pass
    commit(clocked, lambda s: set_agent_field(s, "tester", "budget", {"tokens_per_day": 10_000}), "own")
    async with clocked.client("tester").turn_slot():
        pass


def test_a_budget_must_not_be_negative_and_changing_it_rebuilds_nothing() -> None:
    _, [negative] = parse_agent("agents/coder.json", b'{"name": "coder", "budget": {"usd_per_day": -1}}')
    assert str(negative).startswith("agents/coder.json: $.budget.usd_per_day: input should be greater")
    _, [typo] = parse_settings(b'{"budget": {"tokens": 5}}')
    assert "hive.json: $.budget.tokens: unknown field" in str(typo) and "tokens_per_day" in str(typo)
    with pytest.raises(ValidationError, match="tokens_per_day"):
        SwarmSettings.model_validate({"budget": {"tokens_per_day": -5}})
    plain = DesiredState(agents={"coder": AgentSpec(name="coder")})
    budgeted = DesiredState(
        agents={"coder": AgentSpec.model_validate({"name": "coder", "budget": {"usd_per_day": 2}})},
        settings=SwarmSettings.model_validate({"budget": {"usd_per_day": 1}}),
    )
    assert agent_fingerprint(plain, "coder") == agent_fingerprint(budgeted, "coder")


def test_the_manager_may_change_neither_its_own_budget_nor_the_swarm_one() -> None:
    own = ChangeSet(ops=[SetAgentField(name="boss", field="budget", value={"usd_per_day": 99})])
    assert "your own budget" in (self_change_refusal("boss", own) or "")
    swarm = ChangeSet(ops=[SetSetting(field="budget", value={"usd_per_day": 99})])
    assert "operator's guard" in (self_change_refusal("boss", swarm) or "")
    other = ChangeSet(ops=[SetAgentField(name="coder", field="budget", value={"usd_per_day": 1})])
    assert self_change_refusal("boss", other) is None


# ---- the host holds the turn; the operator's question; the manager's notice -------------------


def over_budget(running: Running, agent: str = "coder") -> None:
    commit(running, lambda s: set_agent_field(s, agent, "budget", {"usd_per_day": 0.05}), "budget")
    running.daemon.core.ledger.record(agent, usage(f"{agent}-t1", 0.06))


@contextlib.asynccontextmanager
async def held(running: Running, agent: str = "coder") -> AsyncIterator[asyncio.Task[object]]:
    """The harness's two asks: refused at once (it shows `paused: budget`), then held by the host."""
    with pytest.raises(BudgetPausedError):
        async with running.client(agent).turn_slot():
            pass
    client = HiveClient(running.layout.agent_socket(agent))

    async def ask() -> object:
        async with client.turn_slot(wait=True) as grant:
            return grant

    task = asyncio.create_task(ask())
    try:
        await until(lambda: running.daemon.core.budget_gate.held(agent) == 1)
        await asyncio.sleep(0.1)
        assert not task.done(), "the host holds the request"
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BudgetPausedError):
            await task
        await client.aclose()


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def budget_question(running: Running) -> wire.Question:
    listed: wire.Questions = await running.client("operator").request(wire.ListQuestions())
    [question] = [q for q in listed.questions if q.asker == SYSTEM]
    return question


async def test_resume_for_today_lets_the_held_turn_run_at_once(clocked: Running) -> None:
    over_budget(clocked)
    async with held(clocked) as task:
        question = await budget_question(clocked)
        assert question.target == "operator" and "coder is paused" in question.question
        assert "$0.0600" in question.question and "$0.0500" in question.question
        assert [o.split(" (")[0] for o in question.options] == [
            "raise the budget to $0.12 a day",
            "resume for today",
            "keep paused",
        ]
        done = await clocked.client("operator").request(wire.AnswerQuestion(id=question.id, answer="resume"))
        assert done.question.answer.startswith("resume for today")
        grant = await asyncio.wait_for(task, 5)
        assert isinstance(grant, wire.SlotGranted)
    async with clocked.client("coder").turn_slot():
        pass  # the override lasts the day
    status = await clocked.client("operator").request(wire.Status())
    assert status.paused == {}


async def test_the_manager_is_told_when_an_agent_pauses_and_when_it_resumes(clocked: Running) -> None:
    over_budget(clocked)
    async with held(clocked) as task:
        with pytest.raises(BudgetPausedError):  # a second refusal tells no one again
            async with clocked.client("coder").turn_slot():
                pass
        question = await budget_question(clocked)
        await clocked.client("operator").request(
            wire.AnswerQuestion(id=question.id, answer="resume for today")
        )
        await asyncio.wait_for(task, 5)
    inbox = await clocked.client("boss").request(wire.Recv(wait_seconds=0, max=32))
    notices = [m.body for m in inbox.messages if m.sender == "system" and "budget" in m.body]
    assert len(notices) == 2, notices
    assert notices[0].startswith("[budget_paused] agent coder gets no turns") and "$0.0500" in notices[0]
    assert notices[1] == "[budget_resumed] agent coder runs again: the operator resumed it for today"


async def test_a_commit_raising_the_budget_lets_the_held_turn_run(clocked: Running) -> None:
    over_budget(clocked)
    async with held(clocked) as task:
        commit(clocked, lambda s: set_agent_field(s, "coder", "budget", {"usd_per_day": 1.0}), "raise")
        assert isinstance(await asyncio.wait_for(task, 10), wire.SlotGranted)
    question = (await clocked.client("operator").request(wire.ListQuestions(include_answered=True))).questions
    [closed] = [q for q in question if q.asker == SYSTEM]
    assert closed.answer == "[no longer needed: its budget allows it again]"


async def test_the_raise_answer_proposes_double_and_approving_it_lets_the_turn_run(clocked: Running) -> None:
    over_budget(clocked)
    async with held(clocked) as task:
        question = await budget_question(clocked)
        done = await clocked.client("operator").request(wire.AnswerQuestion(id=question.id, answer="raise"))
        assert "proposal #" in (done.question.answer or "")
        repo = MetaRepo(clocked.layout.meta)
        [proposal] = proposals.pending(repo)
        assert proposal.description == "raise coder's budget to $0.12 a day"
        assert proposals.proposed_state(repo, proposal).agents["coder"].budget.usd_per_day == 0.12  # type: ignore[union-attr]
        await asyncio.sleep(0.3)
        assert not task.done(), "still paused until the operator approves the proposal"
        proposals.approve(repo, proposal.id, by=OPERATOR)
        assert isinstance(await asyncio.wait_for(task, 10), wire.SlotGranted)


async def test_keep_paused_keeps_it_held_until_the_next_utc_day(clocked: Running, clock: FakeClock) -> None:
    over_budget(clocked)
    gate = clocked.daemon.core.budget_gate
    gate.recheck_seconds = 0.05  # the fake clock does not move real timers: look again often
    async with held(clocked) as task:
        question = await budget_question(clocked)
        await clocked.client("operator").request(wire.AnswerQuestion(id=question.id, answer="keep paused"))
        await asyncio.sleep(0.3)
        assert not task.done()
        status = await clocked.client("operator").request(wire.Status())
        assert status.paused["coder"].startswith("paused: budget: coder spent $0.0600")
        clock.advance(86_400)
        assert isinstance(await asyncio.wait_for(task, 5), wire.SlotGranted)


async def test_one_question_a_day_and_a_bad_answer_changes_nothing(
    clocked: Running, clock: FakeClock
) -> None:
    over_budget(clocked)
    operator = clocked.client("operator")
    for _ in range(3):
        with pytest.raises(BudgetPausedError):
            async with clocked.client("coder").turn_slot():
                pass
    question = await budget_question(clocked)  # exactly one
    with pytest.raises(UserError, match=r"takes one of: 'raise the budget', 'resume for today'.*'maybe'"):
        await operator.request(wire.AnswerQuestion(id=question.id, answer="maybe"))
    assert (await budget_question(clocked)).id == question.id, "still open"
    await operator.request(wire.AnswerQuestion(id=question.id, answer="keep"))
    with pytest.raises(ConflictError):
        await operator.request(wire.AnswerQuestion(id=question.id, answer="resume"))
    clock.advance(86_400)
    clocked.daemon.core.ledger.record("coder", usage("day2", 0.06))
    with pytest.raises(BudgetPausedError):
        async with clocked.client("coder").turn_slot():
            pass
    assert (await budget_question(clocked)).id != question.id, "a new day, a new question"


async def test_resume_on_yesterdays_question_is_refused_and_says_why(
    clocked: Running, clock: FakeClock
) -> None:
    over_budget(clocked)
    with pytest.raises(BudgetPausedError):
        async with clocked.client("coder").turn_slot():
            pass
    question = await budget_question(clocked)
    clock.advance(86_400)
    operator = clocked.client("operator")
    with pytest.raises(ConflictError, match=r"is about 2027-01-15 \(UTC\), which is over"):
        await operator.request(wire.AnswerQuestion(id=question.id, answer="resume"))
    await operator.request(wire.AnswerQuestion(id=question.id, answer="keep"))


async def test_an_agent_can_neither_answer_cancel_nor_forge_the_budget_question(clocked: Running) -> None:
    over_budget(clocked)
    async with held(clocked) as task:
        question = await budget_question(clocked)
        for who in ("coder", "boss"):
            with pytest.raises(ForbiddenError, match="only its target"):
                await clocked.client(who).request(wire.AnswerQuestion(id=question.id, answer="resume"))
            with pytest.raises(ForbiddenError, match="asked by system"):
                await clocked.client(who).request(wire.CancelThread(kind="question", id=question.id))
        forged = await clocked.client("coder").request(
            wire.Ask(question=question.question, options=list(question.options))
        )
        await clocked.client("operator").request(wire.AnswerQuestion(id=forged.question.id, answer="resume"))
        await asyncio.sleep(0.3)
        assert not task.done(), "answering the agent's look-alike question resumed nothing"
        assert not clocked.daemon.core.budget_holds.resumed("coder", "2027-01-15")


async def test_a_held_request_goes_with_its_connection(clocked: Running) -> None:
    over_budget(clocked)
    gate = clocked.daemon.core.budget_gate
    async with held(clocked):
        pass  # leaving the block cancels the ask and closes its connection
    await until(lambda: gate.held("coder") == 0)
    clients = [HiveClient(clocked.layout.agent_socket("coder")) for _ in range(3)]

    async def hold(client: HiveClient) -> None:
        async with client.turn_slot(wait=True):
            pass

    tasks = [asyncio.create_task(hold(c)) for c in clients]
    await until(lambda: sum(t.done() for t in tasks) == 1)
    [refused] = [t for t in tasks if t.done()]
    assert "2 turn-slot requests held" in str(refused.exception())
    for task in tasks:
        task.cancel()
    for client in clients:
        await client.aclose()
    await until(lambda: gate.held("coder") == 0)


def hive_status(running: Running, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hive", "status", "--state-dir", str(running.layout.root), *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_hive_status_shows_paused_budget_until_the_operator_resumes(daemon: Running) -> None:
    over_budget(daemon)
    with pytest.raises(BudgetPausedError):
        async with daemon.client("coder").turn_slot():
            pass
    listed = json.loads(await asyncio.to_thread(hive_status, daemon, "--json"))["agents"]
    paused = {a["name"]: a["paused"] for a in listed}
    assert paused["tester"] is None
    assert (paused["coder"] or "").startswith("paused: budget: coder spent $0.0600")
    table = await asyncio.to_thread(hive_status, daemon)
    [coder] = [line for line in table.splitlines() if " coder " in line]
    [tester] = [line for line in table.splitlines() if " tester " in line]
    assert "· paused:" in coder and "paused" not in tester  # the cell wraps: "budget" is on the next line

    question = await budget_question(daemon)
    await daemon.client("operator").request(wire.AnswerQuestion(id=question.id, answer="resume"))
    listed = json.loads(await asyncio.to_thread(hive_status, daemon, "--json"))["agents"]
    assert {a["name"]: a["paused"] for a in listed}["coder"] is None
