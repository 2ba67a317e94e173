"""Plan, reconcile now, logs, and kept state (revive as a proposal, purge through the reconciler)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from desired import proposals
from desired.changes import apply_changes
from desired.repo import MetaRepo
from hive_kit import wire
from hive_kit.changes import AddAgent, ChangeSet
from hive_kit.errors import UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.http import query_int, read_body
from hive_web.keys import AUTHOR, META, OPERATOR, RECONCILER
from hive_web.operator import ask_core
from hive_web.recon import MAX_LOG_LINES, ReconcilerLink
from hive_web.views.approvals import proposal_json
from hive_web.views.kept import last_spec
from hive_web.views.swarm import recent_history

routes = web.RouteTableDef()


class PurgeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = Field(max_length=64, description="The agent's name, typed again.")


def _link(request: web.Request) -> ReconcilerLink:
    link = request.app[RECONCILER]
    if link is None:
        raise UnavailableError("the reconciler is not connected to this dashboard")
    return link


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise UserError(f"agent {name!r}: {why}")
    return name


@routes.get("/api/plan")
async def plan(request: web.Request) -> web.Response:
    return web.json_response(await _link(request).plan())


@routes.post("/api/reconcile")
async def reconcile_now(request: web.Request) -> web.Response:
    done = await ask_core(
        request.app[OPERATOR], wire.ReconcileNow(reason="operator asked from the dashboard"), wire.Done
    )
    return web.json_response({"note": done.note})


@routes.get("/api/agents/{name}/logs")
async def logs(request: web.Request) -> web.Response:
    name, lines = _name(request), query_int(request, "lines", 200, low=1, high=MAX_LOG_LINES)
    text = await asyncio.to_thread(_link(request).logs, name, lines)
    return web.json_response({"agent": name, "lines": text})


@routes.post("/api/kept/{name}/revive")
async def revive(request: web.Request) -> web.Response:
    """Propose adding the agent back with its last spec; the approval gate decides."""
    name, author = _name(request), request.app[AUTHOR]

    def run(repo: MetaRepo) -> dict[str, Any]:
        spec = last_spec(repo, name)
        change = ChangeSet(ops=[AddAgent(agent=spec)])
        made = proposals.propose(
            repo,
            lambda s: apply_changes(s, change),
            author=author,
            description=f"revive {name} with its kept state",
        )
        return proposal_json(made, None)

    return web.json_response(await request.app[META].run(run), status=201)


@routes.post("/api/kept/{name}/purge")
async def purge(request: web.Request) -> web.Response:
    name, form = _name(request), await read_body(request, PurgeForm)
    if form.confirm != name:
        raise UserError(f"type the agent's name ({name}) to confirm; its state dir is deleted for good")
    return web.json_response(await _link(request).purge(name))


@routes.get("/api/reconcile/history")
async def history(request: web.Request) -> web.Response:
    statuses = await asyncio.to_thread(_link(request).statuses)
    return web.json_response({"history": recent_history(statuses)})
