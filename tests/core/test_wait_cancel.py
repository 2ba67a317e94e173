"""A loop that sleeps on an event must end when it is cancelled, even if the event is set at the
same moment. Python 3.11's ``asyncio.wait_for`` can swallow that cancellation (gh-86296): a
reconciler loop cancelled just as a wake-up landed ran on for ever (a CI teardown hung 300 s)."""

from __future__ import annotations

import asyncio

import pytest

from hive_kit.tasks import wait_or_timeout


async def test_a_cancel_that_lands_with_the_wake_up_still_ends_the_loop() -> None:
    event = asyncio.Event()
    woke = 0

    async def loop() -> None:
        nonlocal woke
        while True:
            if await wait_or_timeout(event, 30):
                woke += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # the loop is asleep on the event
    event.set()
    task.cancel()  # in the same loop turn as the wake-up
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert woke == 0
