"""The manager's ops: propose changes, ask for agents, start/stop/restart/update others (never itself).

`restart` is the operator's too (`hive restart`, over the admin socket).

Writes go through ``desired.edit.write`` like every other editor's:
``propose`` and ``request_spawn`` become proposals the operator approves;
``start``/``stop`` commit the agent's desired ``state`` directly (upstream let
the manager kill/start without approval too) with the manager as author, so
history says who did it. Git work runs in a thread on a fresh ``MetaRepo`` so
a slow disk never stalls the sockets.

``draft_agent`` is the two-step spawn: the new agent's JSON, its agent.nix
and its seed files (``desired.seeds``) in one proposal.

Agents the manager asks to add (``request_spawn``, ``draft_agent``, or
``add_agent`` in a ``propose``) count against hive.json's ``max_spawns_per_day``
(``hive_core.stores.spawns``): reserved before the proposal is written, taken
back if the write fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from desired import edit
from desired.changes import draft_agent as draft_mutation
from desired.repo import MetaRepo, Mutation
from desired.schema import DesiredState, RunState
from desired.seeds import encode_texts
from hive_core.core import Caller, HostCore
from hive_core.ops.registry import handles
from hive_core.stores.spawns import day_bounds
from hive_kit import wire
from hive_kit.changes import (
    AddAgent,
    ChangeSet,
    SetAgentField,
    parse_ops,
    self_change_refusal,
    self_target_refusal,
)
from hive_kit.errors import ForbiddenError, InternalError, LimitError, NotFoundError, UserError
from hive_kit.names import Role

log = logging.getLogger(__name__)


async def _write(
    core: HostCore, caller: Caller, changes: ChangeSet | Mutation, message: str, *, propose: bool
) -> edit.WriteResult:
    """Commit or propose ``changes`` as ``caller``, in a thread."""

    def run() -> edit.WriteResult:
        repo = MetaRepo(core.layout.meta)
        return edit.write(repo, changes, author=caller.author, message=message, propose=propose)

    return await asyncio.to_thread(run)


async def _record(
    core: HostCore, caller: Caller, changes: ChangeSet | Mutation, description: str
) -> wire.ProposalResult:
    proposal = (await _write(core, caller, changes, description, propose=True)).proposal
    if proposal is None:  # write(propose=True) records a proposal or raises
        raise InternalError(f"proposing {description!r} recorded no proposal")
    core.proposals.check()
    log.info("%s proposed #%d: %s", caller.name, proposal.id, description.splitlines()[0])
    return wire.ProposalResult(proposal_id=proposal.id, commit=proposal.commit, description=description)


def _spawn_refusal(core: HostCore, count: int) -> str | None:
    cap = core.desired.cached().state.settings.max_spawns_per_day
    if cap is None or count == 0:
        return None
    now = core.clock()
    start, reset = day_bounds(now)
    used = core.spawns.count_since(start)
    if used + count <= cap:
        return None
    left = int(reset - now)
    return (
        f"hive.json max_spawns_per_day is {cap} and {used} spawn(s) were requested today (UTC); "
        f"this asks for {count} more. The count resets at 00:00 UTC (in {left // 3600} h "
        f"{left % 3600 // 60} min); until then, ask the operator (send to operator) to add the agent "
        "or to raise max_spawns_per_day"
    )


@asynccontextmanager
async def spawn_quota(core: HostCore, caller: Caller, names: list[str]) -> AsyncIterator[None]:
    """Reserve ``names`` against max_spawns_per_day for the block; taken back if the block raises.

    Checked and reserved in one step on the loop (no await between), so two
    proposals in flight cannot both take the last spawn of the day.
    """
    why = _spawn_refusal(core, len(names))
    if why is not None:
        raise LimitError(why)
    ids = core.spawns.record(names, caller.name, core.clock()) if names else []
    try:
        yield
    except BaseException:
        core.spawns.forget(ids)
        raise


def _added_names(changes: ChangeSet) -> list[str]:
    return [str(op.agent.get("name", "")) for op in changes.ops if isinstance(op, AddAgent)]


@handles(wire.Propose)
async def propose(core: HostCore, caller: Caller, req: wire.Propose) -> wire.ProposalResult:
    changes = parse_ops(req.ops)
    why = self_change_refusal(caller.name, changes)
    if why is not None:
        raise ForbiddenError(why)
    async with spawn_quota(core, caller, _added_names(changes)):
        return await _record(core, caller, changes, req.description)


@handles(wire.RequestSpawn)
async def request_spawn(core: HostCore, caller: Caller, req: wire.RequestSpawn) -> wire.ProposalResult:
    why = self_target_refusal(caller.name, req.name, "spawn")
    if why is not None:
        raise ForbiddenError(why)
    fields: dict[str, Any] = {"name": req.name, "description": req.description}
    if req.model is not None:
        fields["model"] = req.model
    changes = ChangeSet(ops=[AddAgent(agent=fields)])
    async with spawn_quota(core, caller, [req.name]):
        return await _record(core, caller, changes, f"spawn {req.name}: {req.description}")


@handles(wire.DraftAgent)
async def draft_agent(core: HostCore, caller: Caller, req: wire.DraftAgent) -> wire.ProposalResult:
    """A new agent with its agent.nix and seed files, as one proposal; counted like ``request_spawn``."""
    why = self_target_refusal(caller.name, req.name, "spawn")
    if why is not None:
        raise ForbiddenError(why)
    named = req.config.get("name", req.name)
    if named != req.name:
        raise UserError(f"config.name is {named!r} but name is {req.name!r}; leave name out of config")
    fields = {"description": req.description, **req.config, "name": req.name}
    seeds = encode_texts(req.name, req.files)  # every path and size checked before anything is written

    def mutate(state: DesiredState) -> DesiredState:
        return draft_mutation(state, fields, req.agent_nix, seeds)

    async with spawn_quota(core, caller, [req.name]):
        return await _record(core, caller, mutate, f"draft {req.name}: {req.description}")


def _other_agent(core: HostCore, caller: Caller, name: str, verb: str) -> str:
    state = core.desired.state
    target = state.resolve_recipient(name)
    why = self_target_refusal(caller.name, target, verb)
    if why is not None:
        raise ForbiddenError(why)
    if target not in state.agents:
        known = ", ".join(sorted(state.agents)) or "none"
        raise NotFoundError(f"no agent named {name!r} (agents: {known})")
    return target


async def _set_state(core: HostCore, caller: Caller, name: str, state: RunState) -> wire.CommitResult:
    verb = "start" if state is RunState.RUNNING else "stop"
    target = _other_agent(core, caller, name, verb)
    changes = ChangeSet(ops=[SetAgentField(name=target, field="state", value=state.value)])
    message = f"{verb} {target} (by {caller.name})"
    revision = (await _write(core, caller, changes, message, propose=False)).revision
    core.desired.refresh()
    note = (
        f"{target} is now desired {state.value}"
        if revision
        else f"{target} was already desired {state.value}"
    )
    return wire.CommitResult(revision=revision, note=note)


@handles(wire.Start)
async def start(core: HostCore, caller: Caller, req: wire.Start) -> wire.CommitResult:
    return await _set_state(core, caller, req.name, RunState.RUNNING)


@handles(wire.Stop)
async def stop(core: HostCore, caller: Caller, req: wire.Stop) -> wire.CommitResult:
    return await _set_state(core, caller, req.name, RunState.STOPPED)


@handles(wire.Restart)
async def restart(core: HostCore, caller: Caller, req: wire.Restart) -> wire.Done:
    """The manager's tool and the operator's `hive restart` (the admin socket): one action, once."""
    target = _other_agent(core, caller, req.name, "restart")
    by = "the operator (`hive restart`)" if caller.role is Role.OPERATOR else caller.name
    return wire.Done(note=await core.require_reconciler().restart(target, by=by))


@handles(wire.Update)
async def update(core: HostCore, caller: Caller, req: wire.Update) -> wire.Done:
    target = _other_agent(core, caller, req.name, "update")
    return wire.Done(note=await core.require_reconciler().update(target))
