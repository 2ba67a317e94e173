"""Every write the dashboard makes to desired state: forms, row actions, approve and deny.

Each handler builds a `ChangeSet` and writes it with ``desired.edit.write``
(the one way the CLI, the manager and the webhook write too) on the
meta-repo thread as the dashboard's author, or calls ``desired.proposals``.
Nothing here touches a container: the reconciler sees the new `main` and
converges. Restart and rebuild are asks to the host core's reconciler control.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desired import proposals
from desired.edit import write
from hive_kit.changes import ChangeSet, RemoveAgent, SetAgentField
from hive_kit.errors import UnavailableError, UserError
from hive_kit.names import ProposalId
from hive_web.http import path_int, read_body
from hive_web.keys import AUTHOR, DEPS, META
from hive_web.views.approvals import proposal_json
from hive_web.views.forms import (
    AddAgentForm,
    ApproveForm,
    DenyForm,
    SetFieldForm,
    add_agent_changes,
    set_field_changes,
)

routes = web.RouteTableDef()

ACTIONS: dict[str, tuple[str, Any]] = {
    "start": ("state", "running"),
    "stop": ("state", "stopped"),
    "suspend": ("suspended", True),
    "resume": ("suspended", False),
}


def action_changes(name: str, action: str) -> ChangeSet:
    """The desired-state edit behind a row button; unknown actions are refused."""
    if action == "destroy":
        return ChangeSet(ops=[RemoveAgent(name=name)])
    if action not in ACTIONS:
        known = ", ".join([*ACTIONS, "destroy", "restart", "rebuild"])
        raise UserError(f"unknown action {action!r}; actions: {known}")
    field, value = ACTIONS[action]
    return ChangeSet(ops=[SetAgentField(name=name, field=field, value=value)])


async def _commit(request: web.Request, changes: ChangeSet, message: str = "") -> dict[str, Any]:
    author = request.app[AUTHOR]
    done = await request.app[META].run(lambda repo: write(repo, changes, author=author, message=message))
    return done.to_json()


@routes.post("/api/agents")
async def add_agent(request: web.Request) -> web.Response:
    form = await read_body(request, AddAgentForm)
    return web.json_response(await _commit(request, add_agent_changes(form), form.message), status=201)


@routes.post("/api/agents/{name}/set")
async def set_field(request: web.Request) -> web.Response:
    form = await read_body(request, SetFieldForm)
    changes = set_field_changes(request.match_info["name"], form)
    return web.json_response(await _commit(request, changes, form.message))


async def _lifecycle(request: web.Request, action: str, name: str) -> str:
    """Restart or rebuild, asked of the reconciler through the host core (never the runtime)."""
    control = request.app[DEPS].control
    if control is None:
        raise UnavailableError(f"{action}: the reconciler is not connected to this dashboard")
    reconciler = control()
    by = "the operator (dashboard)"
    return await (reconciler.restart(name, by=by) if action == "restart" else reconciler.rebuild(name, by=by))


@routes.post("/api/agents/{name}/{action}")
async def agent_action(request: web.Request) -> web.Response:
    name, action = request.match_info["name"], request.match_info["action"]
    if action in ("restart", "rebuild"):
        note = await _lifecycle(request, action, name)
        return web.json_response({"changed": False, "revision": None, "summary": note})
    return web.json_response(await _commit(request, action_changes(name, action)))


@routes.post("/api/approvals/{pid}/approve")
async def approve(request: web.Request) -> web.Response:
    pid, form = ProposalId(path_int(request, "pid")), await read_body(request, ApproveForm)
    author = request.app[AUTHOR]
    done = await request.app[META].run(lambda repo: proposals.approve(repo, pid, by=author, note=form.note))
    return web.json_response(proposal_json(done, None))


@routes.post("/api/approvals/{pid}/deny")
async def deny(request: web.Request) -> web.Response:
    pid, form = ProposalId(path_int(request, "pid")), await read_body(request, DenyForm)
    author = request.app[AUTHOR]
    done = await request.app[META].run(lambda repo: proposals.deny(repo, pid, by=author, note=form.note))
    return web.json_response(proposal_json(done, None))
