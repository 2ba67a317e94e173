"""Read-only JSON: the snapshot, the History log, one agent's config."""

from __future__ import annotations

import asyncio

from aiohttp import web

from desired.repo import MetaRepo
from hive_kit.errors import NotFoundError
from hive_web.http import query_int
from hive_web.keys import LAYOUT, META
from hive_web.snapshot import build_snapshot
from hive_web.views.approvals import proposal_detail
from hive_web.views.history import commit_detail, history_rows
from hive_web.views.swarm import agent_config, rendered_files

routes = web.RouteTableDef()


@routes.get("/api/state")
async def state(request: web.Request) -> web.Response:
    return web.json_response(await build_snapshot(request.app))


@routes.get("/api/history")
async def history(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, low=1, high=500)
    rows = await request.app[META].run(lambda repo: history_rows(repo, limit))
    return web.json_response({"commits": rows})


@routes.get("/api/history/{revision}")
async def history_commit(request: web.Request) -> web.Response:
    revision = request.match_info["revision"]
    return web.json_response(await request.app[META].run(lambda repo: commit_detail(repo, revision)))


@routes.get("/api/approvals/{pid}")
async def approval(request: web.Request) -> web.Response:
    from hive_kit.names import ProposalId
    from hive_web.http import path_int

    pid = ProposalId(path_int(request, "pid"))
    return web.json_response(await request.app[META].run(lambda repo: proposal_detail(repo, pid)))


def _config(repo: MetaRepo, name: str) -> dict[str, object]:
    state = repo.load().state
    if name not in state.agents:
        raise NotFoundError(f"no agent named {name!r} in desired state")
    return agent_config(state, name)


@routes.get("/api/agents/{name}/config")
async def config(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    data = await request.app[META].run(lambda repo: _config(repo, name))
    data["rendered"] = await asyncio.to_thread(rendered_files, request.app[LAYOUT].agent_build(name))
    return web.json_response(data)
