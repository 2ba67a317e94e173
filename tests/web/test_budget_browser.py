"""A budget-paused agent has an amber `paused: budget` badge in the Swarm table, the operator's question
is in Decisions, and answering "resume for today" there takes the badge away.

Real: the dashboard in Chromium, a real host core (``HostCore``, its hive.sqlite, its ledger) behind
the operator op the admin socket runs, the agent's real ``turn_slot`` handler refusing the turn. No
harness runs: the turn is asked for by calling the handler as the agent's socket would.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from desired.changes import add_agent, set_agent_field
from desired.repo import MetaRepo
from hive_core.core import OPERATOR_CALLER, Caller, HostCore
from hive_core.ops import perform
from hive_kit import wire
from hive_kit.errors import BudgetPausedError
from hive_kit.names import Role
from tests.web.conftest import TEST_AUTHOR, open_dashboard, screenshot, serve

pytestmark = pytest.mark.slow


def test_the_swarm_table_shows_paused_budget_and_the_answer_lifts_it(
    layout: Any, server_loop: Any, page: Any
) -> None:
    def budgeted(state: Any) -> Any:
        state = add_agent(add_agent(state, {"name": "alice"}), {"name": "bob"})
        return set_agent_field(state, "alice", "budget", {"usd_per_day": 0.05})

    MetaRepo(layout.meta).commit(budgeted, author=TEST_AUTHOR, message="budget")
    core: HostCore = asyncio.run_coroutine_threadsafe(_core(layout), server_loop).result(10)

    async def operator(request: wire.Request) -> Any:
        done = await perform(core, OPERATOR_CALLER, request)
        await core.batch.durable()  # as the admin socket does before it answers
        return done

    served = serve(layout, server_loop, operator=operator, feed=core.events)
    try:
        served.call(lambda: _spend_and_ask(core, "alice"))
        open_dashboard(page, served, "/#swarm")
        badge = page.locator('tr[data-agent="alice"] [data-paused]')
        badge.wait_for()
        assert badge.inner_text() == "paused: budget"
        assert "alice spent $0.0600" in (badge.get_attribute("title") or "")
        assert page.locator('tr[data-agent="bob"] [data-paused]').count() == 0
        color = badge.evaluate("e => getComputedStyle(e).color")
        warn = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--warn')")
        assert color == _rgb(warn), "amber, like the agent page's badge"
        screenshot(page, "swarm-paused-budget")

        page.goto(f"{served.url}/#decisions")
        card = page.locator("article.card", has_text="alice is paused for its budget")
        card.locator("label.opt", has_text="resume for today").click()
        screenshot(page, "budget-question")
        card.locator("button[type=submit]").click()
        page.goto(f"{served.url}/#swarm")
        page.locator('tr[data-agent="alice"]').wait_for()
        page.locator('tr[data-agent="alice"] [data-paused]').wait_for(state="detached")
        assert "resume for today" in (core.questions.listing(include_answered=True, limit=5)[0].answer or "")
    finally:
        served.close()
        server_loop.call_soon_threadsafe(core.close)


def _rgb(css: str) -> str:
    hexa = css.strip().lstrip("#")
    r, g, b = (int(hexa[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


async def _core(layout: Any) -> HostCore:
    core = HostCore(layout)
    core.desired.refresh()
    return core


async def _spend_and_ask(core: HostCore, agent: str) -> None:
    model = wire.ModelUsage(model="claude-sonnet-4-5", input_tokens=100, cost_usd=0.06)
    report = wire.TurnUsage(
        turn_id="t1", models=[model], started_at=time.time(), duration_ms=10, tool_calls=0
    )
    core.ledger.record(agent, report)
    with pytest.raises(BudgetPausedError):
        await perform(core, Caller(agent, Role.AGENT), wire.TurnSlot())
    await core.batch.durable()
