"""The manager's read tools: see the swarm before proposing a change to it.

Each is one read-only wire op that only the manager's socket accepts (the host
refuses it on any other agent's socket). Answers are JSON (or plain text for
the plan and logs), capped by the host at ``MAX_READ_BYTES`` per text; the
descriptions say so, because the model reads nothing else about them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from hive_harness.mcp_agent import ToolContext, call
from hive_kit.wire import (
    MAX_HISTORY,
    MAX_MANAGER_LOG_LINES,
    MAX_READ_BYTES,
    AgentLogs,
    DesiredHistory,
    GetAgent,
    GetProposal,
    ListAgents,
    PlanNow,
)

_KIB = MAX_READ_BYTES // 1024


def _json(result: Any) -> str:
    if isinstance(result, str):
        return result
    return json.dumps(result.model_dump(mode="json", exclude={"ok"}), indent=1)


LIST_AGENTS = f"""List every agent in the swarm: desired and observed state, model, cost, open threads.

When: first, before proposing any change, and whenever you need to know who exists and how they are.
Each row: name, role, model, description, desired_state (running/stopped/suspended), allowed_recipients,
cost_usd (as the agent's own stats report it; null if unknown), last_hello (unix time the harness last
started), open_threads counts, and "observed" (runtime state, conditions Ready/Reconciling/Stalled,
last error) when the reconciler is running.
Limits: read-only; at most {_KIB} KiB of text.
Example: list_agents()"""


async def list_agents(ctx: ToolContext) -> str:
    return _json(await call(ctx, ListAgents()))


GET_AGENT = f"""Read one agent's configuration: its desired JSON (agents/<name>.json), its agent.nix, the
launch config the runtime was last handed (build/agent.json; null if it was never built), and the paths of
its seed files (what it found in /state when created; their text is in /state/meta/agents/<name>/seed/).

When: before proposing a change to that agent, so you edit what is there rather than guess.
Limits: read-only; agent.nix cut at {_KIB} KiB.
Example: get_agent(name="coder")"""


async def get_agent(ctx: ToolContext, name: Annotated[str, Field(description="The agent.")]) -> str:
    return _json(await call(ctx, GetAgent(name=name)))


PLAN = f"""Show what the reconciler would do now to make the swarm match desired state (a dry run,
as `hive reconcile --dry-run` prints it: + create, ~ update, -/+ replace, - destroy).

When: to see whether an approved change is still pending, or why an agent is not running as desired.
Limits: read-only; changes nothing; at most {_KIB} KiB; needs the reconciler to be running.
Example: plan()"""


async def plan(ctx: ToolContext) -> str:
    result = await call(ctx, PlanNow())
    if isinstance(result, str):
        return result
    return result.text if result.changes else f"{result.text}\n(no changes pending)"


HISTORY = f"""Recent commits to desired state (`main`), newest first, each with its diff.

When: to learn who changed an agent and why, or what an approved proposal actually changed.
Limits: read-only; at most {MAX_HISTORY} commits; each diff cut at {_KIB // 4} KiB, all together
at {_KIB} KiB. With `name`, only commits touching that agent's files.
Example: history(name="coder", limit=5)"""


async def history(
    ctx: ToolContext,
    name: Annotated[str | None, Field(description="Only commits touching this agent.")] = None,
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY, description="How many commits.")] = 10,
) -> str:
    return _json(await call(ctx, DesiredHistory(name=name, limit=limit)))


LOGS = f"""The tail of an agent's harness log (what its harness printed: turns, errors, restarts).

When: an agent looks stuck, failed a turn, or its status shows an error.
Limits: read-only; at most {MAX_MANAGER_LOG_LINES} lines and {_KIB} KiB (older lines are dropped);
needs the reconciler to be running.
Example: logs(name="coder", lines=50)"""


async def logs(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The agent.")],
    lines: Annotated[
        int, Field(ge=1, le=MAX_MANAGER_LOG_LINES, description="How many lines from the end.")
    ] = 100,
) -> str:
    result = await call(ctx, AgentLogs(name=name, lines=lines))
    if isinstance(result, str):
        return result
    if not result.lines:
        return f"no log yet for {result.name}"
    cut = "[older lines dropped]\n" if result.truncated else ""
    return cut + "\n".join(result.lines)


GET_PROPOSAL = f"""Read one proposal: its status (pending/approved/denied), who proposed it, why, its diff.

When: to check on a proposal you made (get_open_threads lists your pending ones) or to read what you
are about to re-propose.
Limits: read-only; the diff is cut at {_KIB} KiB.
Example: get_proposal(id=3)"""


async def get_proposal(ctx: ToolContext, id: Annotated[int, Field(ge=1, description="Proposal id.")]) -> str:
    return _json(await call(ctx, GetProposal(id=id)))


READ_TOOLS = (
    (list_agents, LIST_AGENTS),
    (get_agent, GET_AGENT),
    (plan, PLAN),
    (history, HISTORY),
    (logs, LOGS),
    (get_proposal, GET_PROPOSAL),
)
