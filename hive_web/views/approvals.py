"""Proposals as the Decisions section shows them: pending ones with their full diff, and history.

A pending proposal that adds agents is a **draft** (the manager's ``draft_agent``, ``request_spawn``,
or a commit adding ``agents/<name>.json``): its card says which agents and which seed files each
starts with in /state, and its deny button drops the draft (branch removed, ``denied/<id>`` kept).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desired import proposals
from desired.proposals import Proposal

HISTORY_ROWS = 30


@dataclass(frozen=True)
class Approvals:
    """Every proposal, as ``hive_web.readers.meta.approvals`` found them."""

    pending: Sequence[tuple[Proposal, str]]  # with the diff each would make
    resolved: Sequence[Proposal]


_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_AGENT = re.compile(r"^agents/([a-z][a-z0-9-]*)\.json$")
_SEED = re.compile(r"^agents/([a-z][a-z0-9-]*)/seed/(\S+)$")


def drafted(diff: str) -> list[dict[str, Any]]:
    """The agents a proposal's diff adds, each with the seed files (paths under /state) it carries."""
    added: list[str] = []
    seeds: dict[str, list[str]] = {}
    path = ""
    for line in diff.splitlines():
        header = _HEADER.match(line)
        if header:
            path = header.group(2)
            seed = _SEED.match(path)
            if seed:
                seeds.setdefault(seed.group(1), []).append(seed.group(2))
        elif line.startswith("new file mode") and (agent := _AGENT.match(path)):
            added.append(agent.group(1))
    return [{"name": name, "seeds": sorted(seeds.get(name, []))} for name in added]


def proposal_json(p: Proposal, diff: str | None) -> dict[str, Any]:
    out = proposals.to_json(p, diff)
    if diff is not None and p.status is proposals.ProposalStatus.PENDING:
        out["drafts"] = drafted(diff)
    return out


def approvals_json(found: Approvals, history_limit: int = HISTORY_ROWS) -> dict[str, Any]:
    """Pending proposals oldest first with diffs; resolved ones newest first without (lazy)."""
    resolved = sorted(
        found.resolved, key=lambda p: (p.resolution.at if p.resolution else p.created_at, p.id), reverse=True
    )
    return {
        "pending": [proposal_json(p, diff) for p, diff in found.pending],
        "history": [proposal_json(p, None) for p in resolved[:history_limit]],
    }
