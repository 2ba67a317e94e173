"""Read-only JSON: the snapshot, the caps on fan-out, the History log, a proposal, one agent's config,
the fleet's costs."""

from __future__ import annotations

import asyncio

from aiohttp import web

from hive_kit import wire
from hive_kit.names import ProposalId
from hive_web.http import path_int, query_int
from hive_web.keys import DEPS, META
from hive_web.operator import ask_core
from hive_web.readers.ledger import fleet
from hive_web.readers.meta import agent_state, commit_with_diff, main_log, proposal_with_diff
from hive_web.readers.snapshot import gather
from hive_web.readers.statedirs import rendered_files
from hive_web.views.approvals import proposal_json
from hive_web.views.caps import caps_json
from hive_web.views.history import commit_json, history_rows
from hive_web.views.snapshot import snapshot_json
from hive_web.views.swarm import agent_config

routes = web.RouteTableDef()


@routes.get("/api/state")
async def state(request: web.Request) -> web.Response:
    return web.json_response(snapshot_json(await gather(request.app)))


@routes.get("/api/caps")
async def caps(request: web.Request) -> web.Response:
    status = await ask_core(request.app[DEPS].operator, wire.Status(), wire.StatusResult)
    return web.json_response(caps_json(status.caps or {}))


@routes.get("/api/costs")
async def costs(request: web.Request) -> web.Response:
    """The Costs section: today and this week per agent and per model, and 14 days per agent."""
    return web.json_response(await asyncio.to_thread(fleet, request.app[DEPS].layout))


@routes.get("/api/history")
async def history(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, low=1, high=500)
    infos = await request.app[META].run(lambda repo: main_log(repo, limit))
    return web.json_response({"commits": history_rows(infos)})


@routes.get("/api/history/{revision}")
async def history_commit(request: web.Request) -> web.Response:
    revision = request.match_info["revision"]
    info, diff = await request.app[META].run(lambda repo: commit_with_diff(repo, revision))
    return web.json_response(commit_json(info, diff))


@routes.get("/api/approvals/{pid}")
async def approval(request: web.Request) -> web.Response:
    pid = ProposalId(path_int(request, "pid"))
    proposal, diff = await request.app[META].run(lambda repo: proposal_with_diff(repo, pid))
    return web.json_response(proposal_json(proposal, diff))


@routes.get("/api/agents/{name}/config")
async def config(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    desired = await request.app[META].run(lambda repo: agent_state(repo, name))
    data = agent_config(desired, name)
    data["rendered"] = await asyncio.to_thread(rendered_files, request.app[DEPS].layout.agent_build(name))
    return web.json_response(data)
