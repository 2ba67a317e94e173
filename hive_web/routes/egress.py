"""`GET /api/agents/{name}/egress`: the agent's egress log for its page (read-only, behind the auth).

Served by the dashboard from the host core, not by the agent's harness: the
log is the host's record of the agent, which the agent must not be able to
shape, and it stays readable while the agent is stopped.
"""

from __future__ import annotations

from aiohttp import web

from hive_kit.errors import NotFoundError
from hive_kit.names import name_problem
from hive_web.http import query_int
from hive_web.keys import DEPS
from hive_web.readers.egress import agent_egress
from hive_web.views.egress import egress_json

routes = web.RouteTableDef()


@routes.get("/api/agents/{name}/egress")
async def egress(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise NotFoundError(f"agent {name!r}: {why}")
    limit = query_int(request, "limit", 200, low=1, high=5000)
    denied = request.query.get("denied", "") in ("1", "true", "yes")
    result = await agent_egress(request.app[DEPS].operator, name, limit, denied)
    return web.json_response(egress_json(result))
