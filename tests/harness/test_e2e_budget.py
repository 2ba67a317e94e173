"""A budget reached: the host holds the agent's turn (its page shows `paused: budget`, claude does not
start, the mail waits), the operator is asked once, the manager is told, and an answer or a commit that
lifts the budget starts the queued turn at once (issue 14 item 4).

Real: daemon + sockets + broker + ledger, a `hive-harness serve` process, the `claude` CLI, the `hive`
console script for `status` and `answer`. Stand-in: the scripted Messages API (tests/seams), which
answers with the usage each test chooses; the CLI prices it (the harness runs `haiku`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest

from desired.changes import set_agent_field
from desired.repo import MetaRepo
from hive_core.ledger import Ledger
from hive_kit import wire
from hive_kit.names import SYSTEM
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from tests.conftest import run_hive
from tests.core.conftest import Running
from tests.harness.conftest import OPERATOR, needs_claude
from tests.seams.scripted_api import ScriptedAPI, Usage, text

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(240)]


def set_budget(hive: Running, budget: dict[str, Any] | None) -> None:
    repo = MetaRepo(hive.layout.meta)
    repo.commit(lambda s: set_agent_field(s, "alice", "budget", budget), author=OPERATOR, message="budget")


def spent(layout: StateLayout) -> tuple[int, float]:
    ledger = Ledger.reader(layout.ledger)
    if ledger is None:
        return 0, 0.0
    try:
        bucket = ledger.spend("alice")
        return bucket.turns, bucket.cost_usd
    finally:
        ledger.close()


def hive_cli(layout: StateLayout, *args: str) -> str:
    return run_hive(layout.root, *args, timeout=120).stdout


async def is_paused(alice: Any) -> bool:
    return bool((await alice.get("/api/state"))["turn_state"] == "paused: budget")


async def test_the_turn_that_crosses_a_few_cents_pauses_alice_and_resume_for_today_runs_her_mail(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    alice = await harness("alice", "agent", env=api.env())
    await alice.wait_turns(1)  # the restart-note turn, a fraction of a cent
    set_budget(hive, {"usd_per_day": 0.05})
    api.push(text("on it", Usage(60_000, 4_000)))  # about $0.08 at haiku's prices: crosses $0.05
    await hive.client("operator").request(Send(to="alice", body="first job"))
    await alice.wait_turns(2)
    # the harness writes its own turn row, then reports the turn to the host: wait for the report
    await alice.wait_until("two turns in the ledger", lambda: spent(hive.layout)[0] >= 2)
    turns, cost = spent(hive.layout)
    assert turns == 2 and cost > 0.05, "the crossing turn ran to its end and is in the ledger"

    calls = len(api.requests)
    await hive.client("operator").request(Send(to="alice", body="second job"))
    await alice.wait_until("paused: budget", lambda: is_paused(alice))
    assert len(alice.turns()) == 2 and len(api.requests) == calls, "the next mail started no turn"

    operator = hive.client("operator")
    listed: wire.Questions = await operator.request(wire.ListQuestions())
    [question] = [q for q in listed.questions if q.asker == SYSTEM]
    assert question.question.startswith("alice is paused for its budget: alice spent $0.")
    assert question.options[1].startswith("resume for today")
    status = json.loads(await asyncio.to_thread(hive_cli, hive.layout, "status", "--json"))
    assert [a["paused"] is not None for a in status["agents"] if a["name"] == "alice"] == [True]
    told: wire.Messages = await hive.client("boss").request(wire.Recv(wait_seconds=0, max=32))
    assert any(m.body.startswith("[budget_paused] agent alice") for m in told.messages), "the manager knows"

    answered = await asyncio.to_thread(hive_cli, hive.layout, "answer", str(question.id), "resume for today")
    assert "resume for today" in answered
    await alice.wait_turns(3, timeout=60)
    assert "second job" in str(api.main_requests()[-1].body), "the queued mail ran, not lost"
    assert not await is_paused(alice)
    status = json.loads(await asyncio.to_thread(hive_cli, hive.layout, "status", "--json"))
    assert [a["paused"] for a in status["agents"] if a["name"] == "alice"] == [None]


async def test_a_commit_lifting_the_budget_lets_the_held_turn_run(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    alice = await harness("alice", "agent", env=api.env())
    await alice.wait_turns(1)
    calls = len(api.requests)
    set_budget(hive, {"usd_per_day": 0})  # nothing more today
    await hive.client("operator").request(Send(to="alice", body="please start"))
    await alice.wait_until("paused: budget", lambda: is_paused(alice))
    assert len(alice.turns()) == 1 and len(api.requests) == calls, "claude did not start"

    set_budget(hive, None)
    await alice.wait_turns(2, timeout=60)
    assert "please start" in str(api.main_requests()[-1].body), "the queued mail ran, not lost"
    assert not await is_paused(alice)


async def test_a_harness_killed_while_held_leaks_nothing_and_its_mail_runs_after_a_restart(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    alice = await harness("alice", "agent", env=api.env())
    await alice.wait_turns(1)
    set_budget(hive, {"usd_per_day": 0})
    await hive.client("operator").request(Send(to="alice", body="please start"))
    await alice.wait_until("paused: budget", lambda: is_paused(alice))
    gate = hive.daemon.core.budget_gate
    assert gate.held("alice") == 1, "the host holds the turn, the harness is not polling"

    os.killpg(alice.proc.pid, signal.SIGKILL)
    alice.proc.wait(10)
    for _ in range(200):  # the kernel closed its socket: the host lets go of the held request
        if gate.held("alice") == 0:
            break
        await asyncio.sleep(0.05)
    assert gate.held("alice") == 0

    set_budget(hive, None)
    calls = len(api.requests)
    again = await harness("alice", "agent", env=api.env())

    def ran() -> bool:
        return any("please start" in str(r.body) for r in api.main_requests()[calls:])

    await again.wait_until("the queued mail ran after the restart", ran)
