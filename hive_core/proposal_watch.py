"""Turning proposal tags in the meta repo into `proposal_added` / `proposal_resolved` events.

Proposals are refs, written by whoever proposes or approves (the manager
through us, the operator through the CLI or the dashboard, or `git push`), so
the daemon learns about them by looking: a set of tag names, compared with
the last look. The first look after start only seeds (no events), like
upstream's crash watch, so a restart does not replay history.
"""

from __future__ import annotations

import logging

from desired import proposals
from hive_core.desired_view import DesiredView
from hive_core.events import EventLog, ProposalAdded, ProposalResolved
from hive_kit.errors import HiveError
from hive_kit.names import ProposalId

log = logging.getLogger(__name__)

_PREFIXES = ("refs/tags/proposal/", "refs/tags/approved/", "refs/tags/denied/")


class ProposalWatch:
    def __init__(self, desired: DesiredView, events: EventLog) -> None:
        self._desired = desired
        self._events = events
        self._seen: set[str] | None = None

    def _tags(self) -> set[str]:
        repo = self._desired.repo
        if repo is None:
            return set()
        return {name for name in repo.git.references if name.startswith(_PREFIXES)}

    def check(self, *, seed: bool = False, missed_since: float | None = None) -> int:
        """Publish events for tags that appeared since the last check; returns how many.

        A ``seed`` look publishes nothing, except for tags made after
        ``missed_since`` (the daemon's last event): what happened while it was down.
        """
        try:
            tags = self._tags()
        except HiveError as exc:  # a repo being rewritten under us: look again next time
            log.warning("could not read proposal tags: %s", exc)
            return 0
        if self._seen is None or seed:
            self._seen = tags
            if missed_since is None:
                return 0
            new = sorted((t for t in tags if self._tagged_at(t) > missed_since), key=_order)
        else:
            new = sorted(tags - self._seen, key=_order)
        self._seen = tags
        published = 0
        for ref in new:
            published += self._publish(ref)
        return published

    def _tagged_at(self, ref: str) -> float:
        repo = self._desired.repo
        tag = repo.tag_object(ref.removeprefix("refs/tags/")) if repo is not None else None
        return float(tag.tagger.time) if tag is not None and tag.tagger is not None else 0.0

    def _publish(self, ref: str) -> int:
        kind, _, pid_text = ref.removeprefix("refs/tags/").partition("/")
        if not pid_text.isdigit() or self._desired.repo is None:
            return 0
        try:
            proposal = proposals.get(self._desired.repo, ProposalId(int(pid_text)))
        except HiveError as exc:
            log.warning("proposal %s vanished before it could be read: %s", pid_text, exc)
            return 0
        title = proposal.description.splitlines()[0] if proposal.description else ""
        if kind == "proposal":
            self._events.publish(ProposalAdded(id=proposal.id, author=proposal.author, description=title))
        else:
            res = proposal.resolution
            self._events.publish(
                ProposalResolved(
                    id=proposal.id,
                    status="approved" if kind == "approved" else "denied",
                    by=res.by if res else "unknown",
                    note=res.note if res else "",
                    description=title,
                )
            )
        return 1


def _order(ref: str) -> tuple[int, int]:
    kind, _, pid = ref.removeprefix("refs/tags/").partition("/")
    return (int(pid) if pid.isdigit() else 0, 0 if kind == "proposal" else 1)
