"""Plan, reconcile now, logs, and kept state (revive as a proposal, purge through the host core).

The reads (plan, logs, history) come from ``hive_web.readers.reconciler``.
Purge is an ask: the host core's ``ReconcilerControl.purge`` runs a pass that
deletes the kept state dir; the dashboard never touches it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from desired.edit import write
from desired.repo import MetaRepo
from hive_kit import wire
from hive_kit.changes import AddAgent, ChangeSet
from hive_kit.errors import InternalError, UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.http import query_int, read_body
from hive_web.keys import AUTHOR, DEPS, META
from hive_web.operator import ask_core
from hive_web.readers.meta import last_spec
from hive_web.readers.reconciler import ReconcilerLink
from hive_web.views.approvals import proposal_json
from hive_web.views.swarm import recent_history
from reconciler.runtime.base import MAX_LOG_LINES

routes = web.RouteTableDef()


class PurgeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str = Field(max_length=64, description="The agent's name, typed again.")


def _link(request: web.Request) -> ReconcilerLink:
    link = request.app[DEPS].reconciler
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
        request.app[DEPS].operator, wire.ReconcileNow(reason="operator asked from the dashboard"), wire.Done
    )
    return web.json_response({"note": done.note})


@routes.get("/api/agents/{name}/logs")
async def logs(request: web.Request) -> web.Response:
    """?lines=N&scope=harness|machine|build: a scope the runtime offers (the nixos runtime reads the
    container's journal for the first two); never a unit or a file the caller names."""
    name, lines = _name(request), query_int(request, "lines", 200, low=1, high=MAX_LOG_LINES)
    scope = request.query.get("scope") or "harness"
    return web.json_response(await asyncio.to_thread(_link(request).logs, name, lines, scope))


@routes.post("/api/kept/{name}/revive")
async def revive(request: web.Request) -> web.Response:
    """Propose adding the agent back with its last spec; the approval gate decides."""
    name, author = _name(request), request.app[AUTHOR]

    def run(repo: MetaRepo) -> dict[str, Any]:
        change = ChangeSet(ops=[AddAgent(agent=last_spec(repo, name))])
        done = write(repo, change, author=author, message=f"revive {name} with its kept state", propose=True)
        if done.proposal is None:
            raise InternalError(f"revive {name}: a proposing write answered no proposal")
        return proposal_json(done.proposal, None)

    return web.json_response(await request.app[META].run(run), status=201)


@routes.post("/api/kept/{name}/purge")
async def purge(request: web.Request) -> web.Response:
    name, form = _name(request), await read_body(request, PurgeForm)
    if form.confirm != name:
        raise UserError(f"type the agent's name ({name}) to confirm; its state dir is deleted for good")
    control = request.app[DEPS].control
    if control is None:
        raise UnavailableError("purge: the reconciler is not connected to this dashboard")
    return web.json_response(dict(await control().purge(name)))


@routes.get("/api/reconcile/history")
async def history(request: web.Request) -> web.Response:
    statuses = await asyncio.to_thread(_link(request).statuses)
    return web.json_response({"history": recent_history(statuses)})
