"""`GET /api/stream`: the one SSE stream a dashboard page holds open.

The page paints from a snapshot that carries the event ``seq`` it reflects,
then opens this stream with ``?since=<seq>``. Every event goes out with its
seq as the SSE ``id``; when the connection drops, the browser reconnects on
its own with ``Last-Event-ID`` and the stream resumes after exactly that
event, so nothing is lost and nothing is sent twice. Hints (``event:
desired``) carry no id: they only say "re-read desired state". Frames come
pre-encoded from the shared hub (``hive_web.streams.fanout``). No polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from hive_web.keys import DEPS, FANOUT
from hive_web.streams.fanout import HANG_UP, HINT, Listener
from hive_web.streams.registry import tracked

routes = web.RouteTableDef()
FLUSH_INTERVAL = 0.01


def resume_point(last_event_id: str | None, since: str | None, head: int) -> int:
    """Where a stream starts: after Last-Event-ID (a reconnect), else after ?since, else now."""
    for name, raw in (("Last-Event-ID", last_event_id), ("since", since)):
        if raw is None or raw == "":
            continue
        if not raw.isdigit() or len(raw) > 18:
            raise web.HTTPBadRequest(text=f"{name} must be an event seq (a whole number), not {raw!r}")
        return int(raw)
    return head


def unsent(items: list[tuple[int, bytes]], last: int) -> tuple[bytes, int, bool]:
    """The bytes to write for ``items`` after seq ``last``, the new last seq, and whether to hang up."""
    out: list[bytes] = []
    for seq, frame in items:
        if seq == HANG_UP:
            return b"".join(out), last, True
        if seq == HINT:
            out.append(frame)
        elif seq > last:
            out.append(frame)
            last = seq
    return b"".join(out), last, False


async def _follow(response: EventSourceResponse, listener: Listener, last: int) -> None:
    """Write queued frames until the stream must end, at most one write per ``FLUSH_INTERVAL``.

    A quiet stream writes each event at once; a busy one gathers what
    arrives within the interval into one write (100 pages x 500 events/s is
    otherwise 50,000 small writes a second).
    """
    queue = listener.queue
    loop = asyncio.get_running_loop()
    written_at = 0.0
    while True:
        items = [await queue.get()]
        wait = written_at + FLUSH_INTERVAL - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        while not queue.empty():
            items.append(queue.get_nowait())
        data, last, hang_up = unsent(items, last)
        if data:
            await response.write(data)
            written_at = loop.time()
        if hang_up:
            return


@routes.get("/api/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    deps, fanout = request.app[DEPS], request.app[FANOUT]
    config = deps.config
    listener = fanout.add()  # before reading the head: nothing can fall between backlog and live
    head = deps.feed.last_seq
    try:
        since = resume_point(request.headers.get("Last-Event-ID"), request.query.get("since"), head)
    except web.HTTPException:
        fanout.remove(listener)
        raise
    response = EventSourceResponse(ping_interval=config.sse_ping_seconds)
    try:
        with tracked(request):
            try:
                await response.prepare(request)
                hello = {"since": since, "head": head, "reset": since > head}
                await response.send(json.dumps(hello), event="hello", retry=config.sse_retry_ms)
                data, last, _ = unsent(fanout.backlog(min(since, head), head), min(since, head))
                if data:
                    await response.write(data)
                await _follow(response, listener, last)
            except (ConnectionResetError, asyncio.CancelledError):
                pass
            finally:
                fanout.remove(listener)
    finally:
        await _stop_pings(response)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


async def _stop_pings(response: EventSourceResponse) -> None:
    """End aiohttp-sse's ping task with the stream (left running, it outlived the daemon's loop and
    printed "Task was destroyed but it is pending" at exit)."""
    if not response.prepared:
        return
    response.stop_streaming()
    ping = response._ping_task
    if ping is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await ping
