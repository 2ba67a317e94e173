"""Every long-lived task starts here: named, logged when it ends, and cancelled together.

Modelled on kopf's ``aiotasks``: ``run_root_tasks`` starts the daemon's
components, waits until any of them ends (a crash, or ``stop`` being set),
then cancels the rest and gives them ``grace`` seconds to finish. A root task
that returns or raises is logged with its name, so no component dies silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


def _report(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        log.debug("task %s cancelled", task.get_name())
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s crashed", task.get_name(), exc_info=exc)
    else:
        log.info("task %s finished", task.get_name())


def start_task(name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start a named task whose end (return, crash or cancel) is logged."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_report)
    return task


async def wait_set(event: asyncio.Event, timeout: float | None) -> bool:
    """Sleep up to ``timeout`` unless ``event`` is set first; True if it was set (left set).

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11, ``wait_for`` can swallow a cancellation
    that arrives as the event is set (gh-86296), and a cancelled loop then runs on for ever.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def wait_or_timeout(event: asyncio.Event, timeout: float | None) -> bool:
    """`wait_set`, then clear the event: for a loop's own wake-up flag."""
    if not await wait_set(event, timeout):
        return False
    event.clear()
    return True


async def run_root_tasks(
    components: list[tuple[str, TaskFactory]],
    stop: asyncio.Event,
    *,
    grace: float = 5.0,
    on_exit: Callable[[], Awaitable[None]] | None = None,
) -> list[str]:
    """Run ``components`` until ``stop`` is set or any of them ends; then cancel the others.

    Returns a line for each component that ended on its own (a crash, or an
    unexpected return): empty means a requested stop.
    """
    tasks = [start_task(name, factory()) for name, factory in components]
    stopper = start_task("stop-signal", stop.wait())
    ended: list[str] = []
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper:
                continue
            exc = None if task.cancelled() else task.exception()
            ended.append(f"{task.get_name()}: {exc!r}" if exc else f"{task.get_name()} returned")
            log.warning("component %s ended; stopping the daemon", task.get_name())
    finally:
        for task in [*tasks, stopper]:
            task.cancel()
        pending = [t for t in [*tasks, stopper] if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                log.error("task %s did not stop within %.1fs", task.get_name(), grace)
        if on_exit is not None:
            await on_exit()
    return ended
