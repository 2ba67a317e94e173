"""``hive/apply``: after a revision of main is applied, its deploy status on that commit in Forgejo.

Flux's notification controller is the model: the status follows the
revision's *touched* agents (``reconciler.model.touched_agents``, the same
set that settles a proposal with a ``deployed/`` or ``failed/`` tag) —
pending while they converge, success once every one is Ready running that
revision, failure naming those Stalled on it. Once success or failure has
been queued it is never changed, and a payload equal to the last one is
never queued again, so it is deduplicated across passes and restarts.

It only reads: the host's event log wakes it (a deploy, a condition change,
a webhook delivery), the reconciler's recorded statuses say how each agent
is, and the outbox carries the result to Forgejo. Only a main that Forgejo
has (``refs/remotes/forgejo/main`` contains it) gets a status: a local
commit not yet pushed there has no commit page to put one on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from desired import remote
from desired.repo import MAIN, MetaRepo
from desired.schema import DesiredState
from hive_core.forge.report import APPLY, apply_status, is_final
from hive_web.forge_checks import connected
from hive_web.keys import DEPS, FORGE, META
from reconciler.model import touched_agents

log = logging.getLogger(__name__)
WAKE = frozenset(
    {"deployed", "deploy_failed", "agent_condition_changed", "agent_destroyed", "webhook_received"}
)


async def apply_watch(app: web.Application) -> None:
    """Re-judge main's ``hive/apply`` after every event that can change it."""
    feed = app[DEPS].feed
    async for event in feed.subscribe(since=feed.last_seq):
        if event.kind not in WAKE:
            continue
        try:
            await report_apply(app)
        except Exception:  # a report must never end the dashboard; the next event tries again
            log.exception("forge: judging hive/apply failed")


async def report_apply(app: web.Application) -> dict[str, Any] | None:
    """Queue main's ``hive/apply`` as it stands now; the payload queued, or None if nothing changed."""
    link = app[DEPS].reconciler
    conn = await connected(app)
    if conn is None or link is None:
        return None
    found = await app[META].run(_revision)
    if found is None:
        return None
    sha, touched, wanted = found
    key = f"status:{sha}:{APPLY}"
    store = app[FORGE].store
    if is_final(store.latest(key)):
        return None
    statuses = await asyncio.to_thread(link.statuses)
    ready, failed = _health(sha, touched, wanted, statuses)
    payload = apply_status(sha, touched, ready, failed, f"{conn.dashboard_url}/#swarm")
    if not store.enqueue(key, payload):
        return None
    app[FORGE].sender.poke()
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
