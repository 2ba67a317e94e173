"""The manager's read-only view of the swarm: list_agents, get_agent, plan, history, logs, get_proposal.

Only the manager's socket accepts these (``hive_kit.wire.OPS``); an ordinary
agent sees nothing of its peers. Each answer reuses a reader the host already
has (the desired view, ``desired.proposals``, ``MetaRepo.log``/``diff``, the
reconciler's status, dry run and log tail through ``ReconcilerControl``) and
is capped: no single text over ``wire.MAX_READ_BYTES``, so a huge diff or log
never floods the model's context or the socket.

What the manager must not see is not here: no secrets (``secrets.env`` is
never read), no other agent's ``/state``. The launch config it gets is the
rendered ``build/agent.json``, which holds no secrets either (they reach the
sandbox as an environment file).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from desired import proposals
from desired.files import dump_model
from desired.repo import MAIN, MetaRepo, commit_info
from desired.rules import agent_file
from hive_core.core import Caller, HostCore
from hive_core.ledger import By, utc_day
from hive_core.ops.registry import handles
from hive_kit import wire
from hive_kit.errors import NotFoundError
from hive_kit.names import ProposalId

CUT = "\n[… cut at {n} bytes: ask for less]"
MAX_HISTORY_WALK = 2000
"""How far back `history(name)` looks for commits touching that agent."""


def capped(text: str, limit: int = wire.MAX_READ_BYTES) -> tuple[str, bool]:
    """``text`` cut to ``limit`` bytes (on a character boundary) with a note, and whether it was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[:limit].decode(errors="ignore") + CUT.format(n=limit), True


def _repo(core: HostCore) -> MetaRepo:
    return MetaRepo(core.layout.meta)


def _known(core: HostCore, name: str) -> str:
    state = core.desired.current().state
    target = state.resolve_recipient(name)
    if target not in state.agents:
        known = ", ".join(sorted(state.agents)) or "none"
        raise NotFoundError(f"no agent named {name!r} (agents: {known}); list_agents shows them")
    return target


def agent_row(
    core: HostCore, name: str, status: dict[str, Any] | None, cost: tuple[float, float] | None
) -> dict[str, Any]:
    """One agent as ``list_agents`` shows it: desired fields, observed status, cost, open threads."""
    state = core.desired.state
    spec = state.agents[name]
    hello = core.harnesses.last_hello(name)
    row: dict[str, Any] = {
        "name": name,
        "role": spec.role.value,
        "model": state.effective_model(name),
        "description": spec.description,
        "desired_state": "suspended" if spec.suspended else spec.state.value,
        "allowed_recipients": list(spec.allowed_recipients),
        "cost_usd": cost[0] if cost else None,  # everything recorded, from the host's ledger
        "cost_today_usd": cost[1] if cost else None,  # since 00:00 UTC
        "last_hello": hello.at if hello else None,
        "open_threads": {
            "questions_asked": len(core.questions.open_asked_by(name)),
            "questions_to_it": len(core.questions.open_asked_of(name)),
            "reminders": core.reminders.count_pending(name),
        },
    }
    if status is not None:
        row["observed"] = {
            "runtime_state": status.get("runtime_state"),
            "applied_revision": status.get("applied_revision"),
            "conditions": {c["type"]: f"{c['status']} ({c['reason']})" for c in status.get("conditions", [])},
            "last_error": status.get("last_error"),
            "pending": status.get("pending"),
        }
    return row


def _costs(core: HostCore, names: list[str]) -> dict[str, tuple[float, float]]:
    """Each agent's (total, today) from the host's ledger; agents with no turns are left out."""
    totals = core.ledger.totals_by_agent()
    today = {b.key: b.cost_usd for b in core.ledger.report(By.AGENT, since_day=utc_day(core.clock()))}
    return {n: (totals[n], today.get(n, 0.0)) for n in names if n in totals}


@handles(wire.ListAgents)
async def list_agents(core: HostCore, caller: Caller, req: wire.ListAgents) -> wire.AgentsOverview:
    snap = core.desired.current()
    names = sorted(snap.state.agents)
    costs = await asyncio.to_thread(_costs, core, names)
    statuses: dict[str, Any] = {}
    if core.reconciler is not None:
        statuses = dict(core.reconciler.status().get("agents", {}))
    rows = [agent_row(core, name, statuses.get(name), costs.get(name)) for name in names]
    return wire.AgentsOverview(revision=snap.revision, agents=rows, reconciler=core.reconciler is not None)


def _launch(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()[: wire.MAX_READ_BYTES]
        parsed = json.loads(data)
    except (OSError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


@handles(wire.GetAgent)
async def get_agent(core: HostCore, caller: Caller, req: wire.GetAgent) -> wire.AgentDetail:
    name = _known(core, req.name)
    state = core.desired.state
    desired = json.loads(dump_model(state.agents[name]))
    nix = state.agent_nix.get(name)
    launch = await asyncio.to_thread(_launch, core.layout.agent_build(name) / "agent.json")
    return wire.AgentDetail(
        name=name,
        desired=desired,
        agent_nix=capped(nix)[0] if nix is not None else None,
        launch=launch,
        seed_files=sorted(state.seeds.get(name, {})),
    )


@handles(wire.PlanNow)
async def plan(core: HostCore, caller: Caller, req: wire.PlanNow) -> wire.PlanText:
    lines, changes = await core.require_reconciler().plan_text()
    return wire.PlanText(text=capped("\n".join(lines))[0], changes=changes)


def _history(repo: MetaRepo, name: str | None, limit: int) -> list[dict[str, Any]]:
    paths = None if name is None else [agent_file(name), f"agents/{name}/"]
    budget = wire.MAX_READ_BYTES
    out: list[dict[str, Any]] = []
    for commit in repo.log(MAIN, limit=MAX_HISTORY_WALK):
        parent = commit.parent_ids[0] if commit.parent_ids else None
        diff = repo.diff(parent, commit.id, paths)
        if paths is not None and not diff:
            continue
        text, cut = capped(diff, max(1024, min(budget, wire.MAX_READ_BYTES // 4)))
        budget -= len(text.encode())
        info = commit_info(commit)
        out.append(
            {
                "commit": info.revision,
                "author": info.author,
                "time": info.when.timestamp(),
                "message": info.message,
                "diff": text,
                "diff_truncated": cut,
            }
        )
        if len(out) >= limit or budget <= 0:
            break
    return out


@handles(wire.DesiredHistory)
async def history(core: HostCore, caller: Caller, req: wire.DesiredHistory) -> wire.HistoryResult:
    name = None if req.name is None else _known(core, req.name)
    commits = await asyncio.to_thread(_history, _repo(core), name, req.limit)
    return wire.HistoryResult(commits=commits)


@handles(wire.AgentLogs)
async def logs(core: HostCore, caller: Caller, req: wire.AgentLogs) -> wire.LogTail:
    name = _known(core, req.name)
    lines = await core.require_reconciler().logs(name, req.lines)
    kept: list[str] = []
    size = 0
    for line in reversed(lines[-req.lines :]):
        size += len(line.encode()) + 1
        if size > wire.MAX_READ_BYTES:
            break
        kept.append(line)
    kept.reverse()
    return wire.LogTail(name=name, lines=kept, truncated=len(kept) < len(lines[-req.lines :]))


@handles(wire.GetProposal)
async def get_proposal(core: HostCore, caller: Caller, req: wire.GetProposal) -> wire.ProposalDetail:
    def read() -> tuple[dict[str, object], bool]:
        repo = _repo(core)
        try:
            found = proposals.get(repo, ProposalId(req.id))
        except NotFoundError as exc:
            raise NotFoundError(f"no proposal #{req.id}; get_open_threads lists yours") from exc
        diff, cut = capped(proposals.diff(repo, found))
        return proposals.to_json(found, diff), cut

    body, cut = await asyncio.to_thread(read)
    return wire.ProposalDetail(proposal=body, diff_truncated=cut)
