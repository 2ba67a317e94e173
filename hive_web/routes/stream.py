"""`GET /api/stream`: the one SSE stream a dashboard page holds open.

The page paints from a snapshot that carries the event ``seq`` it reflects,
then opens this stream with ``?since=<seq>``. Every event goes out with its
seq as the SSE ``id``; when the connection drops, the browser reconnects on
its own with ``Last-Event-ID`` and the stream resumes after exactly that
event, so nothing is lost and nothing is sent twice. No polling anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from hive_web.feed import FeedEvent
from hive_web.keys import CONFIG, FEED, STREAMS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def resume_point(last_event_id: str | None, since: str | None, head: int) -> int:
    """Where a stream starts: after Last-Event-ID (a reconnect), else after ?since, else now."""
    for name, raw in (("Last-Event-ID", last_event_id), ("since", since)):
        if raw is None or raw == "":
            continue
        if not raw.isdigit() or len(raw) > 18:
            raise web.HTTPBadRequest(text=f"{name} must be an event seq (a whole number), not {raw!r}")
        return int(raw)
    return head


def event_frame(event: FeedEvent) -> str:
    body: dict[str, Any] = {
        "seq": event.seq,
        "kind": event.kind,
        "ts": event.ts,
        "payload": dict(event.payload),
    }
    return json.dumps(body, separators=(",", ":"), default=str)


@routes.get("/api/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    feed, config = request.app[FEED], request.app[CONFIG]
    head = feed.last_seq()
    since = resume_point(request.headers.get("Last-Event-ID"), request.query.get("since"), head)
    response = EventSourceResponse(ping_interval=config.sse_ping_seconds)
    await response.prepare(request)
    task: asyncio.Task[Any] | None = asyncio.current_task()
    if task is not None:
        request.app[STREAMS].add(task)
    try:
        hello: dict[str, Any] = {"since": since, "head": head, "reset": since > head}
        await response.send(json.dumps(hello), event="hello", retry=config.sse_retry_ms)
        since = min(since, head)  # a log younger than the page: the page repaints from a snapshot
        async for event in feed.subscribe(since):
            await response.send(event_frame(event), id=str(event.seq))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        if task is not None:
            request.app[STREAMS].discard(task)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


async def close_streams(app: web.Application) -> None:
    """On shutdown, end every open stream so the server stops at once (browsers reconnect)."""
    streams = app[STREAMS]
    tasks = list(streams)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)
