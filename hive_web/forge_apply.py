"""``hive/apply``: after a revision of main is applied, its deploy status on that commit in Forgejo.

Flux's notification controller is the model: the status follows the
revision's *touched* agents (``reconciler.model.touched_agents``, the same
set that settles a proposal with a ``deployed/`` or ``failed/`` tag) —
pending while they converge, success once every one is Ready running that
revision, failure naming those Stalled on it. Once success or failure has
been queued it is never changed, and a payload equal to the last one is
never queued again, so it is deduplicated across passes and restarts.

It only reads: the host's event log wakes it (a deploy, a condition change,
a webhook delivery), and so does the meta repo's ref watcher when ``main``
or its copy of Forgejo's main moves (an approval here pushes main to
Forgejo: that push is what makes the revision Forgejo's); the reconciler's
recorded statuses say how each agent is, and the outbox carries the result
to Forgejo. It runs in the daemon's forge component (``forge_component``). Only a main that Forgejo
has (``refs/remotes/forgejo/main`` contains it) gets a status: a local
commit not yet pushed there has no commit page to put one on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from desired import remote
from desired.repo import MAIN, MetaRepo
from desired.schema import DesiredState
from hive_core.forge import connection
from hive_core.forge.report import APPLY, apply_status, is_final
from hive_kit.tasks import start_task
from hive_web.forge_checks import Watching
from reconciler.model import touched_agents

log = logging.getLogger(__name__)
WAKE = frozenset(
    {"deployed", "deploy_failed", "agent_condition_changed", "agent_destroyed", "webhook_received"}
)


MAIN_REFS = frozenset({f"refs/heads/{MAIN}", remote.TRACKING})


async def apply_watch(w: Watching) -> None:
    """Re-judge main's ``hive/apply`` at start and after every event or ref move that can change it."""
    wake = asyncio.Event()
    wake.set()  # once at start: a deploy that finished while nobody watched
    unsubscribe = None
    if w.on_refs is not None:
        unsubscribe = w.on_refs("forge-apply", lambda moved: _on_refs(moved, wake))
    events = start_task("forge-apply-events", _wake_on_events(w, wake))
    try:
        while True:
            await wake.wait()
            wake.clear()
            try:
                await report_apply(w)
            except Exception:  # a report must never end the component; the next event tries again
                log.exception("forge: judging hive/apply failed")
    finally:
        events.cancel()
        if unsubscribe is not None:
            unsubscribe()


def _on_refs(moved: Any, wake: asyncio.Event) -> None:
    if MAIN_REFS & set(moved.changed):
        wake.set()


async def _wake_on_events(w: Watching, wake: asyncio.Event) -> None:
    async for event in w.feed.subscribe(since=w.feed.last_seq):
        if event.kind in WAKE:
            wake.set()


async def report_apply(w: Watching) -> dict[str, Any] | None:
    """Queue main's ``hive/apply`` as it stands now; the payload queued, or None if nothing changed."""
    link = w.reconciler
    conn = await asyncio.to_thread(connection.load, w.layout)
    if conn is None or link is None:
        return None
    found = await w.meta.run(_revision)
    if found is None:
        return None
    sha, touched, wanted = found
    key = f"status:{sha}:{APPLY}"
    store = w.link.store
    if is_final(store.latest(key)):
        return None
    statuses = await asyncio.to_thread(link.statuses)
    ready, failed = _health(sha, touched, wanted, statuses)
    payload = apply_status(sha, touched, ready, failed, f"{conn.dashboard_url}/#swarm")
    if not store.enqueue(key, payload):
        return None
    w.link.sender.poke()
    log.info("forge: %s on %s: %s", APPLY, sha[:12], payload["description"])
    return payload


def _revision(repo: MetaRepo) -> tuple[str, tuple[str, ...], frozenset[str]] | None:
    """Main's revision, the agents it touches and the agents it wants; None if Forgejo lacks it."""
    head, tracking = repo.head(MAIN), repo.head(remote.TRACKING)
    if head is None or tracking is None:
        return None
    if head != tracking and not repo.git.descendant_of(tracking, head):
        return None
    commit = repo.commit_at(head)
    after = repo.load(str(head)).state
    before = repo.load_tree(commit.parents[0].tree) if commit.parents else DesiredState()
    return str(head), tuple(sorted(touched_agents(before, after))), frozenset(after.agents)


def _health(
    sha: str, touched: tuple[str, ...], wanted: frozenset[str], statuses: dict[str, dict[str, Any]]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """(Ready on ``sha``, Stalled on ``sha`` with its error); one not yet planned on ``sha`` is neither."""
    ready, failed = [], {}
    for name in touched:
        status = statuses.get(name)
        if name not in wanted:  # removed by this revision: done once the reconciler forgot it
            if status is None:
                ready.append(name)
            continue
        if status is None or status.get("desired_revision") != sha:
            continue
        conditions = {c["type"]: c for c in status["conditions"]}
        if conditions["Ready"]["status"]:
            ready.append(name)
        elif conditions["Stalled"]["status"]:
            failed[name] = conditions["Stalled"]["message"] or status.get("last_error") or "stalled"
    return tuple(ready), failed
