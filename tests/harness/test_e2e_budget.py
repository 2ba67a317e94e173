"""A budget reached: the harness shows `paused: budget` and does not start claude; the mail waits, and a
commit that lifts the budget lets the queued turn run (issue 14 item 4, first slice).

Real: daemon + sockets + broker + ledger, a `hive-harness serve` process, the `claude` CLI. Stand-in:
the scripted Messages API (tests/seams). The harness asks the host again every
``BUDGET_RETRY_SECONDS`` (10 s), so the resume takes that long.
"""

from __future__ import annotations

from typing import Any

import pytest

from desired.changes import set_agent_field
from desired.repo import MetaRepo
from hive_kit.wire import Send
from tests.core.conftest import Running
from tests.harness.conftest import OPERATOR, needs_claude
from tests.seams.scripted_api import ScriptedAPI

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(240)]


def set_budget(hive: Running, budget: dict[str, Any] | None) -> None:
    repo = MetaRepo(hive.layout.meta)
    repo.commit(lambda s: set_agent_field(s, "alice", "budget", budget), author=OPERATOR, message="budget")


async def test_a_paused_agent_runs_no_turn_and_its_mail_runs_once_the_budget_is_raised(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    alice = await harness("alice", "agent", env=api.env())
    await alice.wait_turns(1)  # the restart-note turn, before any budget
    calls = len(api.requests)
    set_budget(hive, {"usd_per_day": 0})  # nothing more today
    await hive.client("operator").request(Send(to="alice", body="please start"))

    async def paused() -> bool:
        return (await alice.get("/api/state"))["turn_state"] == "paused: budget"

    await alice.wait_until("paused: budget", paused)
    assert len(alice.turns()) == 1 and len(api.requests) == calls, "claude did not start"

    set_budget(hive, None)
    await alice.wait_turns(2, timeout=90)
    assert "please start" in str(api.main_requests()[-1].body), "the queued mail ran, not lost"
    assert (await alice.get("/api/state"))["turn_state"] != "paused: budget"
