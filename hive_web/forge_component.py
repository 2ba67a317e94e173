"""The forge as a daemon component: the outbox sender, the proposals' watch and ``hive/apply``.

Why a component of its own: Forgejo must hear about proposals, approvals
and deploys whether or not the dashboard is served (``hive serve
--no-web``), the way Flux's notification controller is part of the
controllers, not of a UI. Only the webhook receiver stays in the web tier
(it is an HTTP route); it queues into the same outbox (``ForgeLink``, handed
to the app through ``Deps.forge``) and pokes the same sender.

Idle without a forge: no thread, no request, no ``forge.sqlite`` opened
(unless the web tier asked for it); one ``stat`` of the connection file
every ``CONNECT_POLL`` seconds notices a `hive forge connect` made while the
daemon runs (the CLI writes the file from another process, and an inotify
watch would cost a thread). Once connected and holding the sender's claim
(``hive_core.forge.claim``: one sender per state dir), it runs three tasks
until the connection file is gone (`hive forge disconnect`):

- the sender (``hive_core.forge.sender``), woken by a poke when a row is
  queued in this process, by the earliest due retry, and every minute for
  rows another process queued;
- ``forge_pulls.pulls_watch``, woken by proposal events on the host's log;
- ``forge_apply.apply_watch``, woken by deploy and condition events and by
  the meta repo's ref watcher when ``main`` or Forgejo's copy of it moves.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from typing import IO, Any

from aiohttp import web

from hive_core.forge import claim, connection
from hive_core.forge.sender import Publish, Sender
from hive_core.forge.store import ForgeStore
from hive_kit.errors import HiveError
from hive_kit.paths import StateLayout
from hive_kit.tasks import start_task
from hive_web.feed import EventFeed
from hive_web.forge_apply import apply_watch
from hive_web.forge_checks import ForgeLink, RefsSubscribe, Watching
from hive_web.forge_pulls import pulls_watch
from hive_web.keys import DEPS, FORGE
from hive_web.meta import MetaWorker
from hive_web.readers.reconciler import ReconcilerLink

log = logging.getLogger(__name__)
CONNECT_POLL = 2.0
CLAIM_RETRY = 30.0
NO_WEBHOOKS = (
    "hive serve: forge {url} connected, but webhooks need the web tier (run without --no-web): "
    "pushes and pull-request events from Forgejo are not received; statuses and pull requests are still sent"
)


class ForgeComponent:
    """Sends the forge outbox and keeps proposals and deploys in step with Forgejo, while connected."""

    def __init__(
        self,
        layout: StateLayout,
        feed: EventFeed,
        publish: Publish | None,
        reconciler: ReconcilerLink | None,
        *,
        on_refs: RefsSubscribe | None = None,
        webhooks: bool = True,
    ) -> None:
        self.layout, self.feed, self.publish, self.reconciler = layout, feed, publish, reconciler
        self.on_refs, self.webhooks = on_refs, webhooks
        self._link: ForgeLink | None = None
        self.sending = False
        """Whether this process holds the claim and runs the sender now (tests and the log read it)."""

    def link(self) -> ForgeLink:
        """The outbox and its sender (``forge.sqlite`` opened on first use)."""
        if self._link is None:
            store = ForgeStore.open(self.layout)
            self._link = ForgeLink(store, Sender(self.layout, store, self.publish))
        return self._link

    def close(self) -> None:
        if self._link is not None:
            self._link.store.close()
            self._link = None

    def _connected(self) -> bool:
        return connection.connection_path(self.layout).exists()

    async def run(self) -> None:
        """Until cancelled: idle while no forge is connected, send while one is.

        Never ends by itself: it is a root task of the daemon, and a forge that cannot be served
        (an unreadable ``forge.sqlite``, a run dir it cannot write) must not stop the swarm; it
        says why in the log and tries again in ``CLAIM_RETRY`` seconds."""
        waiting_for: str | None = None
        while True:
            if not self._connected():
                await asyncio.sleep(CONNECT_POLL)
                continue
            try:
                waiting_for = await self._claim_and_send(waiting_for)
            except (HiveError, OSError) as exc:  # what to fix is in the message
                log.error("forge: cannot send the outbox: %s; trying again in %.0fs", exc, CLAIM_RETRY)
                await asyncio.sleep(CLAIM_RETRY)
            except Exception:  # a bug: the traceback is what the next engineer needs
                log.exception("forge: cannot send the outbox; trying again in %.0fs", CLAIM_RETRY)
                await asyncio.sleep(CLAIM_RETRY)

    async def _claim_and_send(self, waiting_for: str | None) -> str | None:
        """Send while connected if this process can claim the outbox; who holds it if not."""
        held = claim.claim(self.layout)
        if held is None:
            other = claim.holder(self.layout)
            if other != waiting_for:
                log.info("forge: process %s sends this state dir's outbox; this one waits", other)
            await asyncio.sleep(CLAIM_RETRY)
            return other
        try:
            await self._send_while_connected(held)
        finally:
            held.close()
            self.sending = False
        return None

    async def _send_while_connected(self, _held: IO[str]) -> None:
        link = self.link()
        try:
            conn = connection.load(self.layout)
        except HiveError as exc:  # a broken file: the sender says so on every try, in `hive forge status`
            log.warning("forge: %s", exc)
            conn = None
        url = conn.url if conn is not None else "?"
        log.info("forge: connected to %s; sending its outbox from this process", url)
        if not self.webhooks:
            sys.stdout.write(NO_WEBHOOKS.format(url=url) + "\n")
            sys.stdout.flush()
        meta = MetaWorker(self.layout.meta)
        watching = Watching(self.layout, link, meta, self.reconciler, self.feed, self.on_refs)
        tasks: list[asyncio.Task[Any]] = [
            start_task("forge-sender", link.sender.run()),
            start_task("forge-pulls", pulls_watch(watching)),
            start_task("forge-apply", apply_watch(watching)),
        ]
        self.sending = True
        try:
            while self._connected():
                await asyncio.sleep(CONNECT_POLL)
            log.info("forge: disconnected; sending stops")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            meta.close()


async def forge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The app's forge link: the daemon's (``Deps.forge``: its component sends), or, for a dashboard
    run without a daemon, one of its own with a component that sends only if no one else does."""
    deps = app[DEPS]
    if deps.forge is not None:
        app[FORGE] = deps.forge
        yield
        return
    component = ForgeComponent(deps.layout, deps.feed, deps.publish, deps.reconciler)
    app[FORGE] = await asyncio.to_thread(component.link)
    task = start_task("forge", component.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    component.close()
