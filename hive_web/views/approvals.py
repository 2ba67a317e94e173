"""Proposals as the Decisions section shows them: pending ones with their full diff, and history."""

from __future__ import annotations

from typing import Any

from desired import proposals
from desired.proposals import Proposal, ProposalStatus
from desired.repo import MetaRepo
from hive_kit.names import ProposalId


def proposal_json(p: Proposal, diff: str | None) -> dict[str, Any]:
    return proposals.to_json(p, diff)


def approvals_view(repo: MetaRepo, history_limit: int = 30) -> dict[str, Any]:
    """Pending proposals oldest first with diffs; resolved ones newest first without (lazy)."""
    every = proposals.list_all(repo)
    pending = [proposal_json(p, proposals.diff(repo, p)) for p in every if p.status is ProposalStatus.PENDING]
    resolved = [p for p in every if p.status is not ProposalStatus.PENDING]
    resolved.sort(key=lambda p: (p.resolution.at if p.resolution else p.created_at, p.id), reverse=True)
    return {"pending": pending, "history": [proposal_json(p, None) for p in resolved[:history_limit]]}


def proposal_detail(repo: MetaRepo, pid: ProposalId) -> dict[str, Any]:
    p = proposals.get(repo, pid)
    return proposal_json(p, proposals.diff(repo, p))
