"""The first paint: everything the dashboard shows, as of one event ``seq``.

The seq is read *before* the state: an event that lands while the snapshot
is being built is then delivered again by the stream, and the page's
handlers are idempotent, so the page can only be ahead, never behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from desired.repo import MetaRepo
from hive_kit.paths import StateLayout
from hive_web.keys import COSTS, FANOUT, FEED, LAYOUT, LIFECYCLE, META, OPERATOR, RECONCILER
from hive_web.views.approvals import approvals_view
from hive_web.views.kept import kept_rows
from hive_web.views.swarm import add_facts, merge_status, settings_json, swarm_rows
from hive_web.views.threads import threads_snapshot


def desired_snapshot(repo: MetaRepo, layout: StateLayout) -> dict[str, Any]:
    snap = repo.load()
    return {
        "revision": snap.revision,
        "settings": settings_json(snap.state),
        "agents": swarm_rows(snap.state),
        "approvals": approvals_view(repo),
        "kept": kept_rows(layout, snap.state),
    }


async def build_snapshot(app: web.Application) -> dict[str, Any]:
    seq = app[FEED].last_seq
    layout, link = app[LAYOUT], app[RECONCILER]
    desired = await app[META].run(lambda repo: desired_snapshot(repo, layout))
    if link is not None:
        statuses = await asyncio.to_thread(link.statuses)
        desired["agents"] = merge_status(desired["agents"], statuses)
    cache = app[COSTS]
    names = [row["name"] for row in desired["agents"]]
    costs = await asyncio.to_thread(lambda: {n: cache.cost(layout.agent_state(n)) for n in names})
    add_facts(desired["agents"], costs, app[FANOUT].logins.needs_login)
    threads = await threads_snapshot(app[OPERATOR], app[FEED], seq)
    features = {"reconciler": link is not None and link.live, "lifecycle": app[LIFECYCLE] is not None}
    return {"seq": seq, **desired, **threads, "features": features}
