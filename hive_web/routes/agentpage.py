"""Each agent's page, served by the dashboard and backed by that agent's harness.

The harness serves its API on 127.0.0.1:<web_port> with no authentication
of its own (loopback only). The operator's browser never talks to it
directly: the dashboard serves the page at ``/agents/<name>/`` and forwards
an allow-list of the harness's endpoints, so the token, Origin and CSRF
checks are the dashboard's, in one place, and the agent page works even when
the dashboard is bound elsewhere. The SSE stream is forwarded byte for byte,
with the browser's Last-Event-ID, so resume works as on the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from hive_kit.errors import NotFoundError, UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.keys import AGENT_PORT, GUARD, HTTP, STREAMS
from hive_web.routes.pages import render

routes = web.RouteTableDef()
GETS = frozenset({"api/state", "api/stats", "events/history"})
POSTS = frozenset(
    {"send", "cancel", "compact", "model", "new-session", "login/start", "login/code", "login/cancel"}
)
_TIMEOUT = aiohttp.ClientTimeout(total=15)


def upstream(request: web.Request) -> tuple[str, str]:
    """(agent name, base URL of its harness page), or a 4xx/503 that says why not."""
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise UserError(f"agent {name!r}: {why}")
    lookup = request.app[AGENT_PORT]
    port = lookup(name) if lookup is not None else None
    if not port:
        raise UnavailableError(
            f"agent {name} has no page right now: it is not running or has not said hello yet"
        )
    return name, f"http://127.0.0.1:{port}"


def _down(name: str, base: str, exc: Exception) -> web.HTTPBadGateway:
    return web.HTTPBadGateway(
        text=f"the page of agent {name} at {base} does not answer ({exc}); is it running?"
    )


@routes.get("/agents/{name}/")
async def page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise NotFoundError(f"agent {name!r}: {why}")
    html = render("agent.html", name=name, csrf=request.app[GUARD].csrf_token)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/agents/{name}/{path:(api/state|api/stats|events/history)}")
async def forward_get(request: web.Request) -> web.Response:
    name, base = upstream(request)
    url = f"{base}/{request.match_info['path']}"
    try:
        async with request.app[HTTP].get(url, params=request.query, timeout=_TIMEOUT) as reply:
            body = await reply.read()
            return web.Response(body=body, status=reply.status, content_type=reply.content_type)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _down(name, base, exc) from exc


@routes.post("/agents/{name}/api/{action:.+}")
async def forward_post(request: web.Request) -> web.Response:
    name, base = upstream(request)
    action = request.match_info["action"]
    if action not in POSTS:
        raise web.HTTPNotFound(text=f"unknown agent action {action!r}; one of: {', '.join(sorted(POSTS))}")
    data = await request.read()
    headers = {"Content-Type": request.content_type or "application/json"}
    try:
        async with request.app[HTTP].post(
            f"{base}/api/{action}", data=data, headers=headers, timeout=_TIMEOUT
        ) as reply:
            body = await reply.read()
            if reply.status >= 400 and reply.content_type != "application/json":
                return web.json_response(
                    {"error": body.decode(errors="replace").strip()}, status=reply.status
                )
            return web.Response(body=body, status=reply.status, content_type=reply.content_type)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _down(name, base, exc) from exc


async def _chunks(reply: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in reply.content.iter_any():
        yield chunk


@routes.get("/agents/{name}/events/stream")
async def forward_stream(request: web.Request) -> web.StreamResponse:
    name, base = upstream(request)
    headers = {"Accept": "text/event-stream"}
    if "Last-Event-ID" in request.headers:
        headers["Last-Event-ID"] = request.headers["Last-Event-ID"]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    try:
        reply = await request.app[HTTP].get(
            f"{base}/events/stream", params=request.query, headers=headers, timeout=timeout
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _down(name, base, exc) from exc
    return await _relay(request, reply)


async def _relay(request: web.Request, reply: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    task: asyncio.Task[Any] | None = asyncio.current_task()
    if task is not None:
        request.app[STREAMS].add(task)
    try:
        await response.prepare(request)
        async for chunk in _chunks(reply):
            await response.write(chunk)
    except (ConnectionResetError, aiohttp.ClientError, asyncio.CancelledError):
        pass
    finally:
        reply.close()
        if task is not None:
            request.app[STREAMS].discard(task)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response
