"""The daemon's clocks and followers: deadlines (reminders and question TTLs), retention, and
following the meta repo.

None of them polls in a tight loop. The deadline loop sleeps until the
earliest due reminder or question deadline, and ``HostCore.poke_deadlines``
cuts that sleep short when a new one is added. On start the first pass
delivers what fell due while the daemon was down and expires overdue
questions, so deadlines survive restarts.

The meta-follow loop has no clock at all: it waits for ``core.meta_changed``,
which the core's ``MetaWatch`` subscriber sets when a ref moves (the
watcher's own 30 s rescan is the safety net). Its steps keep their order:
the desired view first, then the agent sockets, then the proposal events,
so an agent's socket is up before anyone hears that its spawn was approved.
"""

from __future__ import annotations

import logging

from hive_core.core import HostCore
from hive_core.ops.asking import expire_overdue
from hive_core.ops.reminding import deliver_due
from hive_core.sockets import SocketSet
from hive_kit.tasks import wait_or_timeout

log = logging.getLogger(__name__)

MAX_SLEEP_S = 60.0
RETENTION_EVERY_S = 3600.0


def run_deadlines_once(core: HostCore) -> float | None:
    """Deliver due reminders and expire overdue questions; returns the next deadline (unix s)."""
    now = core.clock()
    delivered = deliver_due(core, now)
    expired = expire_overdue(core, now)
    if delivered or expired:
        log.info("deadlines: %d reminders delivered, %d questions expired", delivered, expired)
    upcoming = [t for t in (core.reminders.next_due(), core.questions.next_deadline()) if t is not None]
    return min(upcoming) if upcoming else None


async def deadlines_loop(core: HostCore) -> None:
    while True:
        upcoming = run_deadlines_once(core)
        delay = MAX_SLEEP_S if upcoming is None else min(MAX_SLEEP_S, max(0.0, upcoming - core.clock()))
        await wait_or_timeout(core.deadlines_changed, delay)


def run_retention_once(core: HostCore) -> tuple[int, int]:
    messages = core.broker.vacuum()
    events = core.events.trim()
    egress = core.egress_log.trim()
    if messages or events or egress:
        log.info(
            "retention: dropped %d acked messages, %d old events and %d egress rows", messages, events, egress
        )
    return messages, events


async def retention_loop(core: HostCore) -> None:
    while True:
        run_retention_once(core)
        await wait_or_timeout(core.retention_now, RETENTION_EVERY_S)


async def meta_follow_loop(core: HostCore, sockets: SocketSet) -> None:
    """After each move of the meta repo's refs: `main` (agent sockets), then the proposal tags (events)."""
    while True:
        await core.meta_changed.wait()
        core.desired.refresh()
        core.meta_changed.clear()  # after the refresh, whose listener sets it again when `main` moved
        await sockets.sync_agents()
        core.proposals.check()
