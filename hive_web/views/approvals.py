"""Proposals as the Decisions section shows them: pending ones with their full diff, and history.

A pending proposal that adds agents is a **draft** (``drafts`` in its JSON, ``desired.proposals.drafted``):
its card says which agents and which seed files each starts with in /state, and its deny button drops
the draft (branch removed, ``denied/<id>`` kept).
"""

from __future__ import annotations

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


def proposal_json(p: Proposal, diff: str | None) -> dict[str, Any]:
    return proposals.to_json(p, diff)


def approvals_json(found: Approvals, history_limit: int = HISTORY_ROWS) -> dict[str, Any]:
    """Pending proposals oldest first with diffs; resolved ones newest first without (lazy)."""
    resolved = sorted(
        found.resolved, key=lambda p: (p.resolution.at if p.resolution else p.created_at, p.id), reverse=True
    )
    return {
        "pending": [proposal_json(p, diff) for p, diff in found.pending],
        "history": [proposal_json(p, None) for p in resolved[:history_limit]],
    }
