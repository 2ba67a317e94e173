"""`GET /agents/<name>/events/stream`: an agent page's SSE, relayed from its harness byte for byte
(its socket, or its pod through the API server's proxy: ``hive_web.readers.agentpage``).

The browser's Last-Event-ID goes upstream with the request, so a reconnect
resumes in the harness's own event log exactly as on the dashboard; the
dashboard adds nothing and parses nothing.

A pod's page is the exception: the API server's pod proxy (1.20 at least)
does not flush a streamed response, so small SSE frames sat in its buffer and
never reached the browser. For a pod the dashboard therefore reads the
harness's ``events/history?after=SEQ`` through the proxy every
``POD_POLL_SECONDS`` and writes each event as the same SSE frame (id = seq,
event = kind, data = the event's JSON) the harness would have sent: the
browser cannot tell, a reconnect resumes after Last-Event-ID the same way, and
the cost is one small request a second per open pod page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from hive_web.readers.agentpage import Upstream, api_server_failure, unreachable, upstream
from hive_web.streams.registry import tracked

routes = web.RouteTableDef()
POD_POLL_SECONDS = 1.0
POD_PING_SECONDS = 15.0  # a comment line now and then, as aiohttp-sse's ping: proxies keep the stream
POD_BATCH = 500


@routes.get("/agents/{name}/events/stream")
async def forward_stream(request: web.Request) -> web.StreamResponse:
    up = await upstream(request)
    if up.via_api_server:
        return await _poll_pod(request, up)
    headers = {"Accept": "text/event-stream"}
    if "Last-Event-ID" in request.headers:
        headers["Last-Event-ID"] = request.headers["Last-Event-ID"]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    try:
        reply = await up.client.get(
            up.url("events/stream"), params=request.query, headers=up.with_headers(headers), timeout=timeout
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(up, exc) from exc
    if up.via_api_server and reply.status >= 400:  # the proxy's failure, or the token refused
        body = await reply.read()
        reply.close()
        raise api_server_failure(up, reply.status, reply.content_type, body) or unreachable(
            up, f"HTTP {reply.status}: {body.decode(errors='replace').strip()[:200]}"
        )
    return await _relay(request, reply)


async def _chunks(reply: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in reply.content.iter_any():
        yield chunk


async def _relay(request: web.Request, reply: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        with tracked(request):
            try:
                await response.prepare(request)
                async for chunk in _chunks(reply):
                    await response.write(chunk)
            except (ConnectionResetError, aiohttp.ClientError, asyncio.CancelledError):
                pass
            finally:
                reply.close()
    finally:
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


def _resume_after(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPBadRequest(text=f"Last-Event-ID/after must be an integer seq, got {raw!r}")
    return int(raw)


def sse_frame(event: dict[str, object]) -> bytes:
    """The frame the harness's own stream sends for ``event`` (a history entry)."""
    return f"id: {event['seq']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n".encode()


async def _history(up: Upstream, after: int) -> list[dict[str, object]]:
    """The pod harness's events after ``after`` (at most ``POD_BATCH``), through the pod proxy."""
    params = {"after": str(after), "limit": str(POD_BATCH)}
    timeout = aiohttp.ClientTimeout(total=30, sock_connect=5)
    try:
        async with up.client.get(
            up.url("events/history"), params=params, headers=up.with_headers({}), timeout=timeout
        ) as reply:
            body = await reply.read()
            if reply.status >= 400:
                raise api_server_failure(up, reply.status, reply.content_type, body) or unreachable(
                    up, f"HTTP {reply.status}: {body.decode(errors='replace').strip()[:200]}"
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(up, exc) from exc
    events = json.loads(body).get("events", [])
    return [e for e in events if isinstance(e, dict) and isinstance(e.get("seq"), int)]


async def _poll_pod(request: web.Request, up: Upstream) -> web.StreamResponse:
    """The pod's events as an SSE stream, read from its history once a second (module docstring)."""
    last = _resume_after(request)
    first = await _history(up, last)  # a failure now is the 502 naming the pod, before any byte
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    loop = asyncio.get_running_loop()
    with tracked(request):
        try:
            await response.prepare(request)
            events, pinged = first, loop.time()
            while True:
                if events:
                    await response.write(b"".join(sse_frame(e) for e in events))
                    last = max(last, *(int(str(e["seq"])) for e in events))
                elif loop.time() - pinged > POD_PING_SECONDS:
                    await response.write(b": ping\n\n")
                    pinged = loop.time()
                if len(events) < POD_BATCH:
                    await asyncio.sleep(POD_POLL_SECONDS)
                try:
                    events = await _history(up, last)
                except web.HTTPException:
                    events = []  # the pod restarting: keep the browser's stream, try again
        except (ConnectionResetError, asyncio.CancelledError):
            pass
    return response
