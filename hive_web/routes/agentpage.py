"""Each agent's page, served by the dashboard and backed by that agent's harness.

The harness serves its page API on a unix socket (``page/page.sock`` in the
agent's socket dir) with no authentication of its own and no page of its
own: only the daemon's user (and the agent itself) can open that socket. A
pod agent's is reached through the API server's pod proxy with its page
token (``hive_web.readers.agentpage``); the routes here do not change.
The operator's browser never talks to it: the dashboard serves the one agent
page at ``/agents/<name>/`` and forwards an allow-list of the harness's
endpoints, so the session, Origin and CSRF checks are the dashboard's, in one
place. Its stats (``api/stats``) are the exception: the dashboard reads them
from the host's cost ledger, which the agent cannot edit. The SSE stream is
relayed by ``hive_web.streams.agentpage``.

What comes back is the agent's, and the agent is not trusted: answers are
passed on as JSON whatever content type the harness claims, so a hostile
harness cannot serve a page (a script) from the dashboard's origin.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from hive_core.ledger import WINDOWS
from hive_kit.errors import BadRequestError, NotFoundError
from hive_kit.names import name_problem
from hive_web.keys import DEPS
from hive_web.readers.agentpage import Upstream, api_server_failure, unreachable, upstream
from hive_web.readers.ledger import agent_stats
from hive_web.security import request_auth
from hive_web.views.html import render

routes = web.RouteTableDef()
GETS = frozenset({"api/state", "events/history"})
POSTS = frozenset(
    {"send", "cancel", "compact", "model", "new-session", "login/start", "login/code", "login/cancel"}
)
_TIMEOUT = aiohttp.ClientTimeout(total=15)


@routes.get("/agents/{name}/")
async def page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise NotFoundError(f"agent {name!r}: {why}")
    html = render("agent.html", name=name, csrf=request_auth(request).csrf)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/agents/{name}/{path:(api/state|events/history)}")
async def forward_get(request: web.Request) -> web.Response:
    up = await upstream(request)
    url = up.url(request.match_info["path"])
    try:
        async with up.client.get(url, params=request.query, headers=up.headers, timeout=_TIMEOUT) as reply:
            return _relayed(up, reply.status, reply.content_type, await reply.read())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(up, exc) from exc


@routes.get("/agents/{name}/api/stats")
async def stats(request: web.Request) -> web.Response:
    """From the host's ledger, not the harness: the agent's own stats file is the agent's to edit."""
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise NotFoundError(f"agent {name!r}: {why}")
    window = request.query.get("window", "24h")
    if window not in WINDOWS:
        raise BadRequestError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}")
    layout = request.app[DEPS].layout
    return web.json_response(await asyncio.to_thread(agent_stats, layout, name, window))


def _relayed(up: Upstream, status: int, content_type: str, body: bytes) -> web.Response:
    """The harness's answer as JSON: an error text becomes ``{"error"}``, nothing becomes a page."""
    failed = api_server_failure(up, status, content_type, body)
    if failed is not None:
        raise failed
    if status >= 400 and content_type != "application/json":
        return web.json_response({"error": body.decode(errors="replace").strip()}, status=status)
    return web.Response(body=body, status=status, content_type="application/json")


@routes.post("/agents/{name}/api/{action:.+}")
async def forward_post(request: web.Request) -> web.Response:
    up = await upstream(request)
    action = request.match_info["action"]
    if action not in POSTS:
        raise web.HTTPNotFound(text=f"unknown agent action {action!r}; one of: {', '.join(sorted(POSTS))}")
    data = await request.read()
    headers = {"Content-Type": request.content_type or "application/json"}
    try:
        async with up.client.post(
            up.url(f"api/{action}"), data=data, headers=up.with_headers(headers), timeout=_TIMEOUT
        ) as reply:
            return _relayed(up, reply.status, reply.content_type, await reply.read())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(up, exc) from exc
