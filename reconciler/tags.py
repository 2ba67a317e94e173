"""Closing the approval loop in git: `deployed/<id>` or an annotated `failed/<id>` holding the error.

A change's health is the health of what it changed (Argo CD, Flux): an
approved proposal is settled by the agents it *touches* — those whose
effective config (``reconciler.model.effective_config``, what the planner
acts on) differs between the state `main` had just before the approval and
the approved commit. Once a pass observes a revision that contains the
approved commit:

- ``failed/<id>`` as soon as a touched agent is Stalled on its current spec;
  the tag's message holds one ``<agent>: <error>`` line per such agent;
- ``deployed/<id>`` once every touched agent is Ready running that revision,
  or gone when the proposal removed it; a proposal that touches no agent (a
  README, ``agent_defaults``) is deployed at once;
- otherwise it waits for a later pass. Agents it did not touch never count.

The tag sits on the approved commit, so a clone of the meta repo carries the
whole story (``desired.proposals`` reads it back for `hive pending --all`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

import pygit2

from desired.bootstrap import SYSTEM_AUTHOR
from desired.repo import MetaRepo
from desired.schema import DesiredState
from hive_core.events import Deployed, DeployFailed
from hive_kit.errors import HiveError
from reconciler.events import EventSink
from reconciler.model import touched_agents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentHealth:
    """One agent as settlement sees it in a pass; an agent missing from the map is gone.

    ``ready``: Ready and running what the pass's revision asks of it.
    ``stalled``: the error, when the agent is Stalled on its current spec
    (a stall left over from an older spec, now being retried, does not count).
    """

    ready: bool
    stalled: str | None = None


@dataclass(frozen=True)
class Verdict:
    deployed: bool
    failures: tuple[tuple[str, str], ...] = ()  # (agent, error) when it failed


def judge(touched: frozenset[str], health: Mapping[str, AgentHealth]) -> Verdict | None:
    """Pure: the outcome for a proposal touching ``touched``, or None while it is still converging."""
    failures = tuple(
        (name, err) for name in sorted(touched) if (err := _stalled(health.get(name))) is not None
    )
    if failures:
        return Verdict(False, failures)
    if all(name not in health or health[name].ready for name in touched):
        return Verdict(True)
    return None


def _stalled(health: AgentHealth | None) -> str | None:
    return None if health is None else health.stalled


def settle_proposals(
    repo: MetaRepo,
    revision: str,
    health: Mapping[str, AgentHealth],
    events: EventSink,
    *,
    cache: MutableMapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """Tag each approved, unsettled proposal contained in ``revision`` whose touched agents decided it.

    ``health`` covers every agent observed at ``revision`` (desired, or with a
    container still there); ``cache`` keeps each proposal's touched agents
    between passes. Returns the tags made.
    """
    if not revision:
        return []
    head = pygit2.Oid(hex=revision)
    settled = set(repo.tags("deployed/")) | set(repo.tags("failed/"))
    cache = {} if cache is None else cache
    made = []
    for pid, target in sorted(repo.tags("approved/").items()):
        commit = repo.commit_at(target)  # annotated tags point at a tag object
        if pid in settled or not _landed(repo, commit.id, head):
            continue
        if pid not in cache:
            cache[pid] = _touched(repo, pid, commit)
        verdict = judge(cache[pid], health)
        if verdict is not None and _tag(repo, pid, commit.id, revision, verdict, events):
            made.append(f"{'deployed' if verdict.deployed else 'failed'}/{pid}")
    return made


def _landed(repo: MetaRepo, commit: pygit2.Oid, revision: pygit2.Oid) -> bool:
    return commit == revision or bool(repo.git.descendant_of(revision, commit))


def _touched(repo: MetaRepo, pid: str, commit: pygit2.Commit) -> frozenset[str]:
    base = _base(repo, pid, commit)
    try:
        after = repo.load_tree(commit.tree)
    except HiveError as exc:  # cannot happen for a validated main; settle on nothing rather than crash
        log.warning("proposal %s: cannot read its approved commit (%s); touches no agent", pid, exc)
        return frozenset()
    try:
        before = repo.load_tree(base.tree) if base is not None else DesiredState()
    except HiveError:
        before = DesiredState()  # an unreadable base: every agent of the result counts as touched
    return touched_agents(before, after)


def _base(repo: MetaRepo, pid: str, commit: pygit2.Commit) -> pygit2.Commit | None:
    """What `main` was just before the approval.

    A merge's first parent; for a fast-forward, the parent of the proposal's
    first commit, so amendments pushed to the proposal branch count too.
    """
    if len(commit.parents) > 1:
        return commit.parents[0]
    proposed = repo.tag_object(f"proposal/{pid}")
    if proposed is not None:
        first = repo.commit_at(proposed.target)
        if first.id == commit.id or repo.git.descendant_of(commit.id, first.id):
            return first.parents[0] if first.parents else None
    return commit.parents[0] if commit.parents else None


def _tag(
    repo: MetaRepo, pid: str, commit: pygit2.Oid, revision: str, verdict: Verdict, events: EventSink
) -> bool:
    if verdict.deployed:
        name, message = f"deployed/{pid}", f"deployed at {revision[:12]}"
    else:
        name, message = f"failed/{pid}", "\n".join(f"{agent}: {err}" for agent, err in verdict.failures)
    try:
        if not repo.create_tag(name, commit, SYSTEM_AUTHOR, message):
            return False  # another reconciler settled it first
    except (ValueError, pygit2.GitError) as exc:
        log.info("proposal %s: %s already tagged (%s)", pid, name, exc)
        return False
    proposal_id = int(pid) if pid.isdigit() else None
    if verdict.deployed:
        events.emit(Deployed(agent="", revision=revision, proposal_id=proposal_id))
    for agent, err in verdict.failures:
        events.emit(DeployFailed(agent=agent, revision=revision, error=err, proposal_id=proposal_id))
    log.info("proposal %s: tagged %s", pid, name)
    return True
