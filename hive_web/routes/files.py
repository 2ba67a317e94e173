"""`GET /api/state-file?agent=&path=`: the state-file viewer (agent state dirs only, 1 MiB cap)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from hive_web.keys import DEPS
from hive_web.readers.statedirs import read_state_file
from hive_web.views.statefiles import state_file_json

routes = web.RouteTableDef()


@routes.get("/api/state-file")
async def state_file(request: web.Request) -> web.Response:
    agent = request.query.get("agent", "")
    path = request.query.get("path", "")
    state_dir = request.app[DEPS].layout.agent_state(agent) if agent and "/" not in agent else None
    if state_dir is None:
        raise web.HTTPBadRequest(text="pass ?agent=<name>&path=<path inside its state dir>")
    entry = await asyncio.to_thread(read_state_file, state_dir, agent, path)
    return web.json_response(state_file_json(entry))
