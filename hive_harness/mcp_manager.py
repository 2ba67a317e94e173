"""The manager's extra MCP tools: desired-state proposals and day-to-day care of agents.

The manager never touches a container: `propose`, `request_spawn` and
`draft_agent` (a new agent with its seed files) become proposals the operator
approves; `start`/`stop` edit desired state; `restart`/`update` ask the
reconciler to act. None may target the manager itself (it would cut its own
legs; the operator does that). `propose`
speaks `desired.changes` ops and is validated here first, so a malformed
change comes back to the model as a readable list of problems.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from pydantic import Field, ValidationError

from hive_harness import metaclone
from hive_harness.mcp_agent import ToolContext, call
from hive_harness.mcp_reading import READ_TOOLS
from hive_kit.changes import ChangeSet, parse_ops, self_change_refusal, self_target_refusal
from hive_kit.errors import BadRequestError
from hive_kit.wire import (
    MAX_BUNDLE_BYTES,
    DraftAgent,
    Propose,
    ProposeCommit,
    RequestSpawn,
    Restart,
    Start,
    Stop,
    Update,
)


def _self_target(ctx: ToolContext, name: str, verb: str) -> str | None:
    why = self_target_refusal(ctx.launch.name, name, verb)
    return None if why is None else f"refused: {why}"


def check_changeset(ctx: ToolContext, ops: list[dict[str, Any]]) -> ChangeSet | str:
    """The parsed change, or the refusal text (invalid ops, or ops that would stop or remove the manager).

    The same checks the host makes on `propose` (``hive_kit.changes``), asked first so the model
    reads the reason without a round trip.
    """
    try:
        changes = parse_ops(ops)
    except BadRequestError as exc:
        return f"refused: the change is not valid: {exc}"
    why = self_change_refusal(ctx.launch.name, changes)
    return changes if why is None else f"refused: {why}"


def _proposal_text(result: Any) -> str:
    return (
        f"proposal #{result.proposal_id} recorded for the operator ({result.description}). "
        "You will get a message when it is approved or denied; do not re-propose meanwhile."
    )


PROPOSE = """Propose a change to the swarm's desired state; the operator approves or denies it.

When: to add or remove an agent, or change an agent's model, allowed_recipients, extra_mcp_servers,
description, or running/stopped state ("state": "running" | "stopped"). Say why in `description`.
Ops (applied in order):
  {"op": "add_agent", "agent": {"name": "coder", "model": "sonnet", "description": "writes code"}}
  {"op": "remove_agent", "name": "old"}
  {"op": "set", "name": "coder", "field": "model" | "allowed_recipients" | "extra_mcp_servers" |
   "state" | "description" | "suspended", "value": ...}
Limits: up to 100 ops; you may not remove, stop, suspend or re-role yourself; an extra MCP server may not be
keyed "hyperhive". Invalid ops are refused with the reasons. The outcome arrives later as a message.
Example: propose(ops=[{"op": "set", "name": "coder", "field": "model", "value": "opus"}],
                 description="coder keeps failing the refactor on sonnet; try opus for a day")"""


async def propose(
    ctx: ToolContext,
    ops: Annotated[list[dict[str, Any]], Field(description="desired-state change ops, see the description.")],
    description: Annotated[str, Field(description="Why, in a sentence or two, for the operator.")],
) -> str:
    checked = check_changeset(ctx, ops)
    if isinstance(checked, str):
        return checked
    result = await call(ctx, Propose(ops=ops, description=description))
    return result if isinstance(result, str) else _proposal_text(result)


PROPOSE_COMMIT = f"""Propose a commit you made in your clone of the meta repo (/state/meta); the operator
approves or denies it, and sees exactly that commit's diff.

When: for edits bigger than a field or two (an agent.nix, several agents at once). Read first
(list_agents, get_agent), then in /state/meta: `git fetch origin && git checkout -B work origin/main`,
edit agents/<name>.json or agents/<name>/agent.nix, `git commit -am "why"`, then call this.
For one or two fields, `propose(ops)` is simpler.
Limits: the commit must build on origin/main (rebase if main moved), at most 50 commits and
{MAX_BUNDLE_BYTES // 1024} KiB; it is validated like a git push (a refusal names file, field and fix);
you may not remove yourself, change your own role/state/suspended, or hive.json `allow_destroy_all`.
Example: propose_commit(ref="HEAD", description="coder needs ripgrep for the refactor")"""


async def propose_commit(
    ctx: ToolContext,
    description: Annotated[str, Field(description="Why, in a sentence or two, for the operator.")],
    ref: Annotated[str, Field(description="The commit in /state/meta: HEAD, a branch or an id.")] = "HEAD",
) -> str:
    try:
        data = await asyncio.to_thread(metaclone.bundle, ref)
    except metaclone.CloneError as exc:
        return f"refused: {exc}"
    result = await call(ctx, ProposeCommit(bundle=base64.b64encode(data).decode(), description=description))
    return result if isinstance(result, str) else _proposal_text(result)


REQUEST_SPAWN = """Ask for a new agent; it becomes a proposal the operator approves or denies.

When: the work needs another specialist. Describe what it is for; pick a model only if it matters.
Limits: names are lowercase letters, digits and dashes, at most 11 characters; an existing name is refused.
Example: request_spawn(name="tester", description="runs the test suite on every branch coder pushes",
                       model="haiku")"""


async def request_spawn(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The new agent's name.")],
    description: Annotated[str, Field(description="What the agent is for.")],
    model: Annotated[str | None, Field(description="Model, e.g. haiku, sonnet, opus.")] = None,
) -> str:
    refusal = _self_target(ctx, name, "spawn")
    if refusal is not None:
        return refusal
    result = await call(ctx, RequestSpawn(name=name, description=description, model=model))
    return result if isinstance(result, str) else _proposal_text(result)


DRAFT_AGENT = """Draft a new agent whole: its config, optional agent.nix, and files it finds in /state
when it starts (a brief, notes). The operator sees it all as one proposal, every file's diff included.

When: a new specialist needs context on day one. Put its task in files={"brief.md": "..."}; the new
agent is told to read /state/brief.md first. request_spawn is enough when a description will do.
config: agents/<name>.json fields, e.g. {"model": "haiku", "description": "...",
"allowed_recipients": ["manager"]}. files: {path relative to /state: text}.
Limits: a new name only; at most 32 files, 64 KiB each, 256 KiB in all, UTF-8 text; plain relative paths
(brief.md, notes/plan.md) - no dotfiles, no '..', not home/, meta/, secrets.env, CLAUDE.md or *.sqlite.
Counts against max_spawns_per_day. Existing files in /state are never overwritten.
Example: draft_agent(name="tester", description="runs the suite on every branch",
                     config={"model": "haiku"}, files={"brief.md": "# Brief\nRun pytest on ..."})"""


async def draft_agent(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The new agent's name.")],
    description: Annotated[
        str,
        Field(description="What it is for, for the operator (and its description unless config has one)."),
    ],
    config: Annotated[
        dict[str, Any] | None, Field(description="agents/<name>.json fields (model, description, …).")
    ] = None,
    agent_nix: Annotated[str | None, Field(description="agents/<name>/agent.nix text, if any.")] = None,
    files: Annotated[
        dict[str, str] | None, Field(description="Seed files: {path relative to /state: text}.")
    ] = None,
) -> str:
    refusal = _self_target(ctx, name, "spawn")
    if refusal is not None:
        return refusal
    try:
        req = DraftAgent(
            name=name, description=description, config=config or {}, agent_nix=agent_nix, files=files or {}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return f"refused: the draft is not valid: {problems}"
    result = await call(ctx, req)
    return result if isinstance(result, str) else _proposal_text(result)


def _commit_text(name: str, verb: str, result: Any) -> str:
    if isinstance(result, str):
        return result
    if result.revision is None:
        return f"{name} was already {verb} in desired state; nothing changed"
    return (
        f"{name} is now {verb} in desired state (revision {result.revision[:12]}); the reconciler applies it"
    )


START = """Mark an existing agent as running; the reconciler starts its sandbox.

When: an agent was stopped or crashed and should run again. Not for you yourself.
Limits: the agent must exist (use request_spawn for new ones).
Example: start(name="coder")"""


async def start(ctx: ToolContext, name: Annotated[str, Field(description="The agent.")]) -> str:
    refusal = _self_target(ctx, name, "start")
    return refusal or _commit_text(name, "running", await call(ctx, Start(name=name)))


STOP = """Mark an agent as stopped; the reconciler stops its sandbox (its state dir is kept).

When: an agent is misbehaving or idle and costs money. Not for you yourself.
Limits: the agent must exist; it wakes again only after start.
Example: stop(name="coder")"""


async def stop(ctx: ToolContext, name: Annotated[str, Field(description="The agent.")]) -> str:
    refusal = _self_target(ctx, name, "stop")
    return refusal or _commit_text(name, "stopped", await call(ctx, Stop(name=name)))


RESTART = """Restart an agent's sandbox (same config, session and notes kept).

When: an agent looks stuck (no turns, no answers). Not for you yourself.
Limits: the agent must exist and be running.
Example: restart(name="coder")"""


async def restart(ctx: ToolContext, name: Annotated[str, Field(description="The agent.")]) -> str:
    refusal = _self_target(ctx, name, "restart")
    if refusal is not None:
        return refusal
    result = await call(ctx, Restart(name=name))
    return result if isinstance(result, str) else (result.note or f"restart of {name} requested")


UPDATE = """Rebuild an agent from current desired state (idempotent).

When: an agent runs an older config revision than desired state (a "needs update" note told you).
Not for you yourself.
Limits: the agent must exist.
Example: update(name="coder")"""


async def update(ctx: ToolContext, name: Annotated[str, Field(description="The agent.")]) -> str:
    refusal = _self_target(ctx, name, "update")
    if refusal is not None:
        return refusal
    result = await call(ctx, Update(name=name))
    return result if isinstance(result, str) else (result.note or f"update of {name} requested")


MANAGER_TOOLS = (
    *READ_TOOLS,
    (propose, PROPOSE),
    (propose_commit, PROPOSE_COMMIT),
    (request_spawn, REQUEST_SPAWN),
    (draft_agent, DRAFT_AGENT),
    (start, START),
    (stop, STOP),
    (restart, RESTART),
    (update, UPDATE),
)
