"""Gather everything the first paint shows, as of one event ``seq``.

The seq is read *before* the state: an event that lands while the snapshot
is being built is then delivered again by the stream, and the page's
handlers are idempotent, so the page can only be ahead, never behind.
``hive_web.views.snapshot.snapshot_json`` turns the parts into the page's JSON.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from hive_core.stores.budget_holds import paused_on_disk
from hive_web.keys import DEPS, FANOUT, META
from hive_web.readers.ledger import costs_by_agent
from hive_web.readers.meta import desired_and_approvals
from hive_web.readers.statedirs import kept_dirs
from hive_web.readers.threads import operator_threads
from hive_web.views.snapshot import SnapshotParts


async def gather(app: web.Application) -> SnapshotParts:
    deps = app[DEPS]
    seq = deps.feed.last_seq
    layout, link = deps.layout, deps.reconciler
    read = await app[META].run(desired_and_approvals)
    state = read.snapshot.state
    kept = await asyncio.to_thread(kept_dirs, layout, state)
    statuses = await asyncio.to_thread(link.statuses) if link is not None else None
    recorded = await asyncio.to_thread(costs_by_agent, layout)
    costs = {name: recorded.get(name) for name in state.agents}
    paused = await asyncio.to_thread(paused_on_disk, layout, state, time.time())
    return SnapshotParts(
        seq=seq,
        desired=read.snapshot,
        approvals=read.approvals,
        kept=tuple(kept),
        statuses=statuses,
        costs=costs,
        needs_login=frozenset(app[FANOUT].logins.needs_login),
        paused=paused,
        threads=await operator_threads(deps.operator, deps.feed, seq),
        reconciler_live=link is not None and link.live,
        lifecycle=deps.control is not None,
        insecure_sandbox=link.runtime.insecure_reason if link is not None and link.live else None,
    )
