"""`GET /api/stream`: the one SSE stream a dashboard page holds open.

The page paints from a snapshot that carries the event ``seq`` it reflects,
then opens this stream with ``?since=<seq>``. Every event goes out with its
seq as the SSE ``id``; when the connection drops, the browser reconnects on
its own with ``Last-Event-ID`` and the stream resumes after exactly that
event, so nothing is lost and nothing is sent twice. Hints (``event:
desired``) carry no id: they only say "re-read desired state". No polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from hive_web.feed import EventFeed, FeedEvent
from hive_web.keys import CONFIG, FEED, HINTS, STREAMS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
Item = tuple[str, Any]


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
    """``{"seq", "kind", "ts", "payload"}``: the event's own fields become the payload."""
    data = event.model_dump(mode="json")
    payload = {k: v for k, v in data.items() if k not in ("seq", "kind", "ts")}
    body = {"seq": event.seq, "kind": event.kind, "ts": event.ts, "payload": payload}
    return json.dumps(body, separators=(",", ":"), default=str)


async def _pump(feed: EventFeed, since: int, queue: asyncio.Queue[Item]) -> None:
    async for event in feed.subscribe(since):
        await queue.put(("event", event))


async def _send_all(response: EventSourceResponse, queue: asyncio.Queue[Item]) -> None:
    while True:
        what, item = await queue.get()
        if what == "event":
            await response.send(event_frame(item), id=str(item.seq))
        else:
            kind, data = item
            await response.send(json.dumps(data, default=str), event=kind)


@routes.get("/api/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    feed, config, hints = request.app[FEED], request.app[CONFIG], request.app[HINTS]
    head = feed.last_seq
    since = resume_point(request.headers.get("Last-Event-ID"), request.query.get("since"), head)
    response = EventSourceResponse(ping_interval=config.sse_ping_seconds)
    await response.prepare(request)
    task: asyncio.Task[Any] | None = asyncio.current_task()
    streams = request.app[STREAMS]
    if task is not None:
        streams.add(task)
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=1000)
    hint_queue = hints.add()
    pumps = [asyncio.create_task(_pump(feed, min(since, head), queue))]
    pumps.append(asyncio.create_task(_forward_hints(hint_queue, queue)))
    try:
        hello = {"since": since, "head": head, "reset": since > head}
        await response.send(json.dumps(hello), event="hello", retry=config.sse_retry_ms)
        await _send_all(response, queue)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for pump in pumps:
            pump.cancel()
        hints.discard(hint_queue)
        if task is not None:
            streams.discard(task)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


async def _forward_hints(
    source: asyncio.Queue[tuple[str, dict[str, Any]]], queue: asyncio.Queue[Item]
) -> None:
    while True:
        await queue.put(("hint", await source.get()))


async def close_streams(app: web.Application) -> None:
    """On shutdown, end every open stream so the server stops at once (browsers reconnect)."""
    streams = app[STREAMS]
    tasks = list(streams)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)
