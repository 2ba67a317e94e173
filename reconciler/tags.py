"""Closing the approval loop in git: `deployed/<id>` or an annotated `failed/<id>` holding the error.

An approved proposal's commit is "deployed" once the swarm has converged on
a revision that contains it; it "failed" when an agent stalls while
applying such a revision. The tag sits on the approved commit, so a clone of
the meta repo carries the whole story (desired.proposals reads it back).
"""

from __future__ import annotations

import logging

import pygit2

from desired.bootstrap import SYSTEM_AUTHOR
from desired.repo import MetaRepo
from reconciler.events import EventSink

log = logging.getLogger(__name__)


def _landed(repo: MetaRepo, commit: pygit2.Oid, revision: pygit2.Oid) -> bool:
    return commit == revision or bool(repo.git.descendant_of(revision, commit))


def settle_proposals(repo: MetaRepo, revision: str, errors: list[str], events: EventSink) -> list[str]:
    """Tag every approved, not yet settled proposal contained in ``revision``; returns the tags made.

    ``errors`` empty means the swarm converged on ``revision`` (deployed);
    otherwise they are the stalled agents' errors (failed).
    """
    if not revision:
        return []
    head = pygit2.Oid(hex=revision)
    settled = set(repo.tags("deployed/")) | set(repo.tags("failed/"))
    made = []
    for pid, target in sorted(repo.tags("approved/").items()):
        commit = repo.git[target].peel(pygit2.Commit).id  # annotated tags point at a tag object
        if pid in settled or not _landed(repo, commit, head):
            continue
        if errors:
            name, message = f"failed/{pid}", "\n".join(errors)
        else:
            name, message = f"deployed/{pid}", f"deployed at {revision[:12]}"
        try:
            if not repo.create_tag(name, commit, SYSTEM_AUTHOR, message):
                continue
        except (ValueError, pygit2.GitError) as exc:
            log.info("proposal %s: %s already tagged (%s)", pid, name, exc)
            continue
        made.append(name)
        proposal_id = int(pid) if pid.isdigit() else None
        if errors:
            events.emit("deploy_failed", agent="", revision=revision, error=message, proposal_id=proposal_id)
        else:
            events.emit("deployed", agent="", revision=revision, proposal_id=proposal_id)
        log.info("proposal %s: tagged %s", pid, name)
    return made
