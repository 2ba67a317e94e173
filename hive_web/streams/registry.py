"""Every open stream is a handler task the app knows about, so shutdown can end them all at once.

An SSE response never finishes on its own; left alone, aiohttp's graceful
shutdown would wait for each browser to hang up. ``tracked`` registers the
handler's task for as long as its stream is open; ``close_streams`` (an
``on_shutdown`` hook) cancels them, and the browsers reconnect to whatever
serves next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from aiohttp import web

from hive_web.keys import STREAMS


@contextlib.contextmanager
def tracked(request: web.Request) -> Iterator[None]:
    """While inside, the current task is one of the app's open streams."""
    task = asyncio.current_task()
    streams = request.app[STREAMS]
    if task is not None:
        streams.add(task)
    try:
        yield
    finally:
        if task is not None:
            streams.discard(task)


async def close_streams(app: web.Application) -> None:
    """On shutdown, end every open stream so the server stops at once (browsers reconnect)."""
    streams = app[STREAMS]
    tasks = list(streams)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)
