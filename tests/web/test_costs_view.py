"""The dashboard's Costs section in Chromium: the fleet's spend from the host's ledger, with its chart.

Real: the dashboard app, Chromium, the ledger's sqlite file. The rows are
written with ``Ledger.record``, the daemon's own code for a ``turn_usage``
report; the clock it is handed places turns on earlier days (the one stand-in:
no test waits a week).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from desired.changes import apply_changes
from hive_core.ledger import Ledger
from hive_kit import wire
from hive_kit.changes import AddAgent, ChangeSet
from tests.web.conftest import TEST_AUTHOR, Served, http, open_dashboard, screenshot, session_headers

pytestmark = pytest.mark.slow
DAY = 86400.0

TURNS = [  # (days ago, agent, model, USD as the CLI reported it; None: priced from the table)
    *[(d, "coder", "claude-sonnet-4-5", 0.40 + 0.05 * d) for d in range(0, 12)],
    *[(d, "reviewer", "claude-haiku-4-5", 0.12) for d in range(0, 9, 2)],
    *[(d, "boss", "claude-opus-4-5", 0.90) for d in (1, 3, 6, 10)],
    (0, "coder", "claude-haiku-4-5", 0.03),
    (0, "reviewer", "claude-haiku-4-5", None),
]


def fill(served: Served) -> None:
    now = time.time()
    for i, (days_ago, agent, model, cost) in enumerate(TURNS):
        usage = wire.ModelUsage(model=model, input_tokens=20_000, output_tokens=1500, cost_usd=cost)
        turn = wire.TurnUsage(turn_id=f"t{i}", models=[usage], started_at=now, duration_ms=1000)
        ledger = Ledger(served.layout.ledger, clock=lambda d=days_ago: now - d * DAY)
        ledger.record(agent, turn)
        ledger.close()
    change = ChangeSet(ops=[AddAgent(agent={"name": n}) for n in ("coder", "reviewer")])
    served.repo.commit(lambda s: apply_changes(s, change), author=TEST_AUTHOR, message="add agents")


def test_costs_section_shows_today_this_week_and_a_chart(dashboard: Served, page: Any) -> None:
    fill(dashboard)
    open_dashboard(page, dashboard, "/#costs")
    page.locator("#costs-today-agents tr[data-key=coder]").wait_for()
    today_coder = 0.40 + 0.03
    assert f"${today_coder:.2f}" in page.inner_text("#costs-today-agents tr[data-key=coder]")
    week = page.inner_text("#costs-week-agents")
    week_coder = sum(0.40 + 0.05 * d for d in range(7)) + 0.03
    assert f"${week_coder:.2f}" in week and "boss" in week
    assert "*" in page.inner_text("#costs-today-agents tr[data-key=reviewer]"), "the priced turn is marked"
    assert "claude-haiku-4-5" in page.inner_text("#costs-today-models")
    bars = page.locator("#costs-chart svg.chart rect")
    assert bars.count() == sum(1 for d, *_ in TURNS if d < 14) - 2, "one segment per agent-day"
    summary = page.inner_text("#costs-summary")
    assert "today" in summary and "priced from the price table" in summary
    screenshot(page, "costs")
    # the Swarm table's cost column is the ledger's too
    page.locator("#nav a[data-section=swarm]").click()
    row = page.locator("#swarm-table tr[data-agent=coder]")
    row.wait_for()
    assert f"${sum(0.40 + 0.05 * d for d in range(12)) + 0.03:.2f}" in row.inner_text()


def test_costs_api_with_no_ledger_is_empty_not_an_error(dashboard: Served) -> None:
    reply = http("GET", f"{dashboard.url}/api/costs", headers=session_headers(dashboard))
    assert reply.status == 200, reply.body
    assert reply.body["week_costs"]["by_agent"] == [] and len(reply.body["days"]) == 14
    assert not dashboard.layout.ledger.exists()


def test_costs_api_needs_a_session(dashboard: Served) -> None:
    assert http("GET", f"{dashboard.url}/api/costs").status == 401
