"""`GET /agents/<name>/events/stream`: an agent page's SSE, relayed from its harness's socket byte for byte.

The browser's Last-Event-ID goes upstream with the request, so a reconnect
resumes in the harness's own event log exactly as on the dashboard; the
dashboard adds nothing and parses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from hive_web.readers.agentpage import PAGE_BASE, unreachable, upstream
from hive_web.streams.registry import tracked

routes = web.RouteTableDef()


@routes.get("/agents/{name}/events/stream")
async def forward_stream(request: web.Request) -> web.StreamResponse:
    name, client, path = upstream(request)
    headers = {"Accept": "text/event-stream"}
    if "Last-Event-ID" in request.headers:
        headers["Last-Event-ID"] = request.headers["Last-Event-ID"]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    try:
        reply = await client.get(
            f"{PAGE_BASE}/events/stream", params=request.query, headers=headers, timeout=timeout
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(name, path, exc) from exc
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
