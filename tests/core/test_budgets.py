"""Budgets (issue 14 item 4, first slice): the host refuses a turn slot once today's ledger spend
reaches the agent's budget, and grants it again when a commit raises the budget.

Real parts: the daemon on its unix sockets, its sqlite ledger and a real meta repo. Usage rows go
into the daemon's ledger through its own API (as the ``turn_usage`` op would put them), and the
slot is asked for over the agent's socket, as its harness does. The clock is a fake one so the
UTC day does not roll over mid-test.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from desired.changes import set_agent_field, set_setting
from desired.files import parse_agent, parse_settings
from desired.repo import MetaRepo
from desired.schema import AgentSpec, DesiredState, SwarmSettings, agent_fingerprint
from hive_kit import wire
from hive_kit.changes import ChangeSet, SetAgentField, SetSetting, self_change_refusal
from hive_kit.errors import BudgetPausedError
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
