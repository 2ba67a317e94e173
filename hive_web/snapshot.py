"""The first paint: everything the dashboard shows, as of one event ``seq``.

The seq is read *before* the state: an event that lands while the snapshot
is being built is then delivered again by the stream, and the page's
handlers are idempotent, so the page can only be ahead, never behind.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from desired.repo import MetaRepo
from hive_web.keys import FEED, META, OPERATOR
from hive_web.views.approvals import approvals_view
from hive_web.views.swarm import settings_json, swarm_rows
from hive_web.views.threads import threads_snapshot


def desired_snapshot(repo: MetaRepo) -> dict[str, Any]:
    snap = repo.load()
    return {
        "revision": snap.revision,
        "settings": settings_json(snap.state),
        "agents": swarm_rows(snap.state),
        "approvals": approvals_view(repo),
    }


async def build_snapshot(app: web.Application) -> dict[str, Any]:
    seq = app[FEED].last_seq
    desired = await app[META].run(desired_snapshot)
    threads = await threads_snapshot(app[OPERATOR], app[FEED], seq)
    return {"seq": seq, **desired, **threads}
