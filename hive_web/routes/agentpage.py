"""Each agent's page, served by the dashboard and backed by that agent's harness.

The harness serves its page API on 127.0.0.1:<web_port> with no
authentication of its own (loopback only) and no page of its own. The
operator's browser never talks to it directly: the dashboard serves the one
agent page at ``/agents/<name>/`` and forwards an allow-list of the harness's
endpoints, so the token, Origin and CSRF checks are the dashboard's, in one
place, and the agent page works even when the dashboard is bound elsewhere.
The SSE stream is relayed by ``hive_web.streams.agentpage``.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from hive_kit.errors import NotFoundError
from hive_kit.names import name_problem
from hive_web.keys import DEPS, HTTP
from hive_web.readers.agentpage import unreachable, upstream
from hive_web.views.html import render

routes = web.RouteTableDef()
GETS = frozenset({"api/state", "api/stats", "events/history"})
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
    html = render("agent.html", name=name, csrf=request.app[DEPS].guard.csrf_token)
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
        raise unreachable(name, base, exc) from exc


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
        raise unreachable(name, base, exc) from exc
