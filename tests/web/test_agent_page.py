"""The agent page: served by the dashboard, backed by a real harness's page API.

The harness here is the real `hive_harness` object graph (runtime, event bus,
turn-stats store, its aiohttp page app on its unix socket, ``page/page.sock``
where `hive serve` would look for it) with no turn loop running and no
claude: the test publishes the live events a turn would publish, records
turn-stats rows, and records the turn in the host's ledger as the daemon does
on the harness's ``turn_usage`` report (``Ledger.record``, the daemon's own
code, on the real ``ledger.sqlite``), then reads the page as an operator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_core.ledger import Ledger
from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.serve import PageSite, start_site
from hive_harness.stats import TurnRecord, TurnStats
from hive_harness.streamjson import ResultKind, TokenUsage, TurnOutcome
from hive_harness.usage import turn_usage
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from tests.web.conftest import (
    Served,
    browser_headers,
    http,
    open_dashboard,
    screenshot,
    serve,
    session_headers,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def agent(
    layout: StateLayout, server_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> Iterator[tuple[Served, Harness]]:
    page_socket = layout.page_socket_for("coder", is_manager=False)
    holder: dict[str, Any] = {}

    async def up() -> tuple[Harness, PageSite]:
        paths = StatePaths(layout.agent_state("coder"))  # where the runtime puts its /state
        paths.root.mkdir(parents=True)
        launch = AgentLaunchConfig(name="coder", role="agent", model="sonnet")
        harness = Harness(
            Runtime(launch, paths, EventBus(paths.events_db)),
            HiveClient(tmp_path / "no.sock"),
            TurnStats(paths.stats_db),
            claude_bin="claude",
            base_env={},
            system_prompt="",
        )
        site = await start_site(harness, page_socket)
        assert site is not None
        return harness, site

    served = serve(layout, server_loop, agent_page=lambda name: page_socket if name == "coder" else None)
    try:
        harness, site = served.call(up)
        holder["site"] = site
        yield served, harness
    finally:
        if "site" in holder:
            served.call(holder["site"].close)
        served.close()


def _turn(served: Served, harness: Harness, n: int) -> None:
    async def go() -> None:
        bus, now = harness.rt.bus, time.time()
        bus.publish("turn_start", wake_from="manager", model="sonnet", prompt=f"task {n}", new_session=False)
        bus.publish("stream", item="text", text=f"working on task {n}")
        bus.publish(
            "stream", item="tool_use", id=f"t{n}", name="mcp__hyperhive__send", input={"to": "manager"}
        )
        bus.publish("stream", item="tool_result", tool_use_id=f"t{n}", is_error=False, text="sent")
        record = TurnRecord(
            model="sonnet",
            wake_from="manager",
            result_kind="ok",
            started_at=now - 3,
            ended_at=now,
            duration_ms=1000 + 400 * n,
            input_tokens=1200 + 300 * n,
            output_tokens=200 + 50 * n,
            cache_read_tokens=4000,
            cost_usd=0.01 * n,
            tool_call_count=2,
            tool_call_breakdown={"mcp__hyperhive__send": 1, "Bash": 1 + n % 3},
        )
        harness.stats.record(record)
        outcome = TurnOutcome(
            kind=ResultKind.OK,
            usage=TokenUsage(record.input_tokens, record.output_tokens, record.cache_read_tokens, 0),
            cost_usd=record.cost_usd,
            tool_calls=record.tool_call_breakdown,
            session_id="s",
            model="claude-sonnet-4-5",
            note="",
            last_call=TokenUsage(),
            cost_reported=True,
        )
        report = turn_usage(outcome, model="sonnet", turn_id=f"turn-{n}", started=now - 3, ended=now)
        ledger = Ledger(served.layout.ledger)
        ledger.record("coder", report)
        ledger.close()
        bus.publish("turn_end", **{k: v for k, v in record.__dict__.items() if k != "tool_call_breakdown"})

    served.call(go)


def test_agent_page_shows_turns_live_with_stats(agent: tuple[Served, Harness], page: Any) -> None:
    served, harness = agent
    for n in range(1, 13):
        _turn(served, harness, n)
    open_dashboard(page, served, "/agents/coder/")
    page.wait_for_selector("body[data-live='1']")
    term = page.locator("#terminal")
    assert "working on task 12" in term.inner_text()
    page.locator("#stats svg.chart").first.wait_for()
    assert "12 turns" in page.inner_text("#stats")
    assert page.inner_text("#model-badge").startswith("sonnet")
    _turn(served, harness, 13)
    term.locator(".ln", has_text="working on task 13").wait_for()
    assert page.eval_on_selector("#terminal", "t => t.scrollTop + t.clientHeight >= t.scrollHeight - 8")
    screenshot(page, "agent-page")
    # Scrolled up, new lines do not yank the view: a pill counts them instead.
    page.eval_on_selector("#terminal", "t => { t.scrollTop = 0; }")
    _turn(served, harness, 14)
    pill = page.locator("#new-pill")
    pill.wait_for()
    assert pill.inner_text().startswith("↓ ") and "new" in pill.inner_text()
    assert page.eval_on_selector("#terminal", "t => t.scrollTop") == 0
    pill.click()
    pill.wait_for(state="hidden")


def test_agent_page_commands_go_to_the_harness(agent: tuple[Served, Harness], page: Any) -> None:
    served, harness = agent
    open_dashboard(page, served, "/agents/coder/")
    page.wait_for_selector("body[data-live='1']")
    area = page.locator("#prompt textarea")
    area.fill("/help")
    area.press("Enter")
    page.locator("#terminal .ln", has_text="/new-session").wait_for()
    area.fill("/model opus")
    area.press("Enter")
    page.locator("#model-badge", has_text="opus").wait_for()
    assert harness.rt.model == "opus"
    area.fill("please look at the failing test")
    area.press("Enter")
    page.locator(".toast", has_text="queued").wait_for()
    assert harness.jobs.qsize() == 1


def test_agent_page_refusals(agent: tuple[Served, Harness]) -> None:
    served, _ = agent
    headers = browser_headers(served)
    missing = http(
        "POST",
        f"{served.url}/agents/coder/api/send",
        {"body": "x"},
        headers={"Origin": served.url, **session_headers(served)},
    )
    assert missing.status == 403
    assert "CSRF" in missing.error
    unknown = http("POST", f"{served.url}/agents/coder/api/shell", {"cmd": "rm -rf /"}, headers=headers)
    assert unknown.status == 404
    assert "unknown agent action" in unknown.error
    empty = http("POST", f"{served.url}/agents/coder/api/send", {"body": "  "}, headers=headers)
    assert empty.status == 400
    assert "empty" in empty.error
    offline = http("GET", f"{served.url}/agents/ghost/api/state", headers=session_headers(served))
    assert offline.status == 503
    assert "has no page right now" in offline.error
    bad = http("GET", f"{served.url}/agents/Bad..Name/api/state", headers=session_headers(served))
    assert bad.status == 400


def test_swarm_row_shows_cost_and_needs_login(agent: tuple[Served, Harness], page: Any) -> None:
    """Cost comes from the host's ledger; needs-login from the host's events."""
    from hive_core.events import LoggedIn, NeedsLogin

    served, harness = agent
    for n in range(1, 3):
        _turn(served, harness, n)
    from desired.changes import apply_changes
    from hive_kit.changes import AddAgent, ChangeSet
    from tests.web.conftest import TEST_AUTHOR

    change = ChangeSet(ops=[AddAgent(agent={"name": "coder"})])
    served.repo.commit(lambda s: apply_changes(s, change), author=TEST_AUTHOR, message="add coder")
    open_dashboard(page, served)
    page.wait_for_selector("#live[data-state=live]")
    row = page.locator("#swarm-table tr[data-agent=coder]")
    row.wait_for()
    assert "$0.03" in row.inner_text()
    served.publish(NeedsLogin(agent="coder"))
    badge = row.locator("a.pill", has_text="needs login")
    badge.wait_for()
    assert badge.get_attribute("href") == "/agents/coder/"
    served.publish(LoggedIn(agent="coder"))
    badge.wait_for(state="detached")


def test_agent_page_stats_are_the_ledgers_not_the_agents_own_file(agent: tuple[Served, Harness]) -> None:
    """The agent writes what it likes to its turn-stats file; the page shows what the host recorded."""
    served, harness = agent
    for n in range(1, 4):
        _turn(served, harness, n)
    forged = TurnRecord(
        model="sonnet",
        wake_from="x",
        result_kind="ok",
        started_at=time.time(),
        ended_at=time.time(),
        duration_ms=1,
        cost_usd=999.0,
    )
    served.call(lambda: _async(harness.stats.record, forged))
    stats = http("GET", f"{served.url}/agents/coder/api/stats?window=1h", headers=session_headers(served))
    assert stats.status == 200, stats.body
    assert stats.body["source"] == "ledger" and stats.body["turn_count"] == 3
    assert stats.body["cost_usd"] == pytest.approx(0.06)
    assert stats.body["tool_calls"] == {"Bash": 6, "mcp__hyperhive__send": 3}
    assert stats.body["tokens"]["input_tokens"] == 1500 + 1800 + 2100
    bad = http(
        "GET", f"{served.url}/agents/coder/api/stats?window=fortnight", headers=session_headers(served)
    )
    assert bad.status == 400 and "unknown window" in bad.error


async def _async(fn: Any, *args: Any) -> None:
    fn(*args)
