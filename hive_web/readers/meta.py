"""Reads of the meta repo (desired state, proposals, the log of `main`), run on its one thread.

Each function takes the ``MetaRepo`` that ``hive_web.meta.MetaWorker.run``
hands it and returns data for a view: no JSON, no responses. Nothing here
writes; the dashboard's writes go through ``desired.edit.write`` and
``desired.proposals``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from desired import proposals
from desired.edit import document_text
from desired.proposals import Proposal, ProposalStatus
from desired.repo import MAIN, CommitInfo, MetaRepo, Snapshot, commit_info
from desired.schema import DesiredState
from hive_kit.errors import NotFoundError
from hive_kit.names import ProposalId
from hive_web.views.approvals import Approvals

LAST_SPEC_DEPTH = 5000


@dataclass(frozen=True)
class DesiredRead:
    """Desired state at `main` and every proposal: the snapshot's share of the meta repo."""

    snapshot: Snapshot
    approvals: Approvals


def approvals(repo: MetaRepo) -> Approvals:
    every = proposals.list_all(repo)
    pending = [(p, proposals.diff(repo, p)) for p in every if p.status is ProposalStatus.PENDING]
    return Approvals(pending=pending, resolved=[p for p in every if p.status is not ProposalStatus.PENDING])


def desired_and_approvals(repo: MetaRepo) -> DesiredRead:
    return DesiredRead(repo.load(), approvals(repo))


def proposal_with_diff(repo: MetaRepo, pid: ProposalId) -> tuple[Proposal, str]:
    p = proposals.get(repo, pid)
    return p, proposals.diff(repo, p)


def main_log(repo: MetaRepo, limit: int) -> list[CommitInfo]:
    return [commit_info(commit) for commit in repo.log(MAIN, limit=limit)]


def commit_with_diff(repo: MetaRepo, revision: str) -> tuple[CommitInfo, str]:
    """One commit and its diff against its first parent."""
    if not all(c in "0123456789abcdef" for c in revision) or not 4 <= len(revision) <= 40:
        raise NotFoundError(f"{revision!r} is not a commit id; pick one from the History list")
    commit = repo.resolve(revision)
    parent = commit.parent_ids[0] if commit.parent_ids else None
    return commit_info(commit), repo.diff(parent, commit.id)


def agent_state(repo: MetaRepo, name: str) -> DesiredState:
    """Desired state at `main`, refused with 404 unless it has agent ``name``."""
    state = repo.load().state
    if name not in state.agents:
        raise NotFoundError(f"no agent named {name!r} in desired state")
    return state


def document(repo: MetaRepo) -> tuple[str, str]:
    """(revision, text) of the whole desired state as `hive desired edit` opens it."""
    snap = repo.load()
    return snap.revision, document_text(snap.state)


def moved_since(repo: MetaRepo, base: str, main: str) -> str:
    """The diff of what `main` gained since ``base`` (empty when there is no `main`)."""
    return repo.diff(base, main) if main else ""


def last_spec(repo: MetaRepo, name: str) -> dict[str, Any]:
    """The agent's file as it last was on main, newest first through history."""
    path = f"agents/{name}.json"
    for commit in repo.log(MAIN, limit=LAST_SPEC_DEPTH):
        try:
            entry = commit.tree[path]
        except KeyError:
            continue
        data = json.loads(repo.blob(entry.id))
        if isinstance(data, dict):
            return data
    raise NotFoundError(f"{name!r} never was in desired state; add it as a new agent instead")
