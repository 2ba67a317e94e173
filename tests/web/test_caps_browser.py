"""The Swarm section shows hive.json's caps on fan-out with their use now, and follows the turn queue.

Real: the dashboard in Chromium, a real host core (``HostCore``, its hive.sqlite and slot table)
reached through the same operator op (`status`) the admin socket runs, the manager's real
`request_spawn` handler. No harness runs: the turn slots are taken on the host's table directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from desired.changes import add_agent, set_setting
from hive_core.core import OPERATOR_CALLER, HostCore
from hive_core.ops import perform
from hive_kit import wire
from tests.web.conftest import TEST_AUTHOR, open_dashboard, screenshot, serve

pytestmark = pytest.mark.slow


def test_caps_line_shows_agents_spawns_and_turns_with_the_queue(
    layout: Any, server_loop: Any, page: Any
) -> None:
    def capped(state: Any) -> Any:
        for field, value in (("max_agents", 30), ("max_spawns_per_day", 5), ("max_concurrent_turns", 1)):
            state = set_setting(state, field, value)
        return add_agent(add_agent(state, {"name": "alice"}), {"name": "bob"})

    from desired.repo import MetaRepo

    MetaRepo(layout.meta).commit(capped, author=TEST_AUTHOR, message="caps")
    core: HostCore = asyncio.run_coroutine_threadsafe(_core(layout), server_loop).result(10)

    async def operator(request: wire.Request) -> Any:
        return await perform(core, OPERATOR_CALLER, request)

    served = serve(layout, server_loop, operator=operator)
    try:
        spawn = wire.RequestSpawn(name="writer", description="writes docs")
        served.call(lambda: perform(core, core.manager_caller(), spawn))
        tickets = served.call(lambda: _ask(core, "alice", "bob", "manager"))
        open_dashboard(page, served, "/#swarm")
        caps = page.locator("#caps")
        page.locator("#caps", has_text="2 queued").wait_for()
        assert caps.inner_text() == "agents 3/30 · spawns today 1/5 · turns running 1/1, 2 queued"
        assert "waiting, first in line first: bob, manager" in (caps.get_attribute("title") or "")
        screenshot(page, "caps")
        served.call(lambda: _release(core, tickets[0]))  # alice's turn ends: bob's starts
        page.locator("#caps", has_text="1/1, 1 queued").wait_for()
    finally:
        served.close()
        server_loop.call_soon_threadsafe(core.close)


async def _core(layout: Any) -> HostCore:
    core = HostCore(layout)
    core.desired.refresh()
    return core


async def _ask(core: HostCore, *names: str) -> list[Any]:
    return [core.turn_slots.ask(name) for name in names]


async def _release(core: HostCore, ticket: Any) -> None:
    core.turn_slots.release(ticket)
