"""The turn-slot table: first come, first served; one slot per agent; a hang-up gives the slot back.

The table is pure bookkeeping (tested directly); the hang-up path runs through
the real daemon and its unix sockets.
"""

from __future__ import annotations

import asyncio

import pytest

from hive_core.turnslots import TurnSlots
from hive_kit.errors import LimitError
from tests.core.conftest import Running


def granted(slots: TurnSlots) -> list[str]:
    return [agent for agent, _ in slots.usage().running]


async def test_slots_go_first_come_first_served_and_a_raised_cap_lets_the_line_move() -> None:
    limit = [1]
    slots = TurnSlots(lambda: limit[0], clock=lambda: 0.0)
    a, b, c = slots.ask("a"), slots.ask("b"), slots.ask("c")
    assert granted(slots) == ["a"] and [n for n, _ in slots.usage().queued] == ["b", "c"]
    slots.release(a)
    assert granted(slots) == ["b"] and b.granted.done() and not c.granted.done()
    limit[0] = 2
    slots.grant()
    assert granted(slots) == ["b", "c"]


async def test_an_agent_holds_one_slot_at_most_and_cannot_flood_the_line() -> None:
    slots = TurnSlots(lambda: 3, clock=lambda: 0.0)
    first, second = slots.ask("a"), slots.ask("a")
    assert granted(slots) == ["a"] and not second.granted.done(), "its second ticket waits for its first"
    with pytest.raises(LimitError, match="turn-slot requests open"):
        slots.ask("a")
    slots.release(first)
    assert second.granted.done()


async def test_a_client_that_hangs_up_gives_its_slot_back_and_one_that_leaves_the_line_is_forgotten(
    daemon: Running,
) -> None:
    slots = daemon.daemon.core.turn_slots
    slots._limit = lambda: 1  # the cap as hive.json would set it
    holder, waiter = daemon.client("coder"), daemon.client("tester")
    async with holder.turn_slot() as grant:
        assert grant.limit == 1 and grant.running == 1
        waiting = asyncio.ensure_future(waiter.turn_slot().__aenter__())
        while not slots.usage().queued:
            await asyncio.sleep(0.01)
        waiting.cancel()  # the manager's harness gave up while queued: its connection closes
        while slots.usage().queued:
            await asyncio.sleep(0.01)
    while slots.usage().running:
        await asyncio.sleep(0.01)
    assert [e.kind for e in slots.log] == ["granted", "left-queue", "released"]
