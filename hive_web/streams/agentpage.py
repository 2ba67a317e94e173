"""`GET /agents/<name>/events/stream`: an agent page's SSE, relayed from its harness byte for byte
(its socket, or its pod through the API server's proxy: ``hive_web.readers.agentpage``).

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

from hive_web.readers.agentpage import api_server_failure, unreachable, upstream
from hive_web.streams.registry import tracked

routes = web.RouteTableDef()


@routes.get("/agents/{name}/events/stream")
async def forward_stream(request: web.Request) -> web.StreamResponse:
    up = await upstream(request)
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
