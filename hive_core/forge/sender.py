"""The sender: drains the forge outbox in the background, retrying each failure with backoff.

One task per state dir (run by the daemon's forge component, with or without the
dashboard, while it holds the claim in ``claim``).
It sleeps until the next row is due or ``poke()`` says something was queued
(``wait_or_timeout``, so a new delivery goes out at once), sends what is due,
and on failure keeps the row with its error and a later due time: 1 s, 2 s,
4 s … capped at ``MAX_DELAY``. A forge that is down therefore gets its
statuses once it is back, in order, without the reconciler ever waiting.
Each call is an event (``forge_call_sent``, ``forge_call_failed``) and a row in
``hive forge status``; failures are also the outbox row's ``last_error``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from hive_core.events import Event, ForgeCallFailed, ForgeCallSent
from hive_core.forge import connection
from hive_core.forge.client import CommentGone, ForgeClient
from hive_core.forge.pull_sender import PullSender
from hive_core.forge.store import ForgeStore, Pending
from hive_kit.errors import HiveError
from hive_kit.paths import StateLayout
from hive_kit.tasks import wait_or_timeout

log = logging.getLogger(__name__)
BASE_DELAY, MAX_DELAY = 1.0, 300.0
IDLE = 60.0  # with nothing due, look again this often (a row queued by another process)

Publish = Callable[[Event], Any]


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures (±10 % so retries do not march)."""
    delay = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    return float(delay * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not a secret


class Sender:
    def __init__(self, layout: StateLayout, store: ForgeStore, publish: Publish | None = None) -> None:
        self.layout, self.store, self.publish = layout, store, publish
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.send_due()
            except Exception:  # a bug here must not end the daemon's forge component; the row stays queued
                log.exception("forge: sending failed unexpectedly; retrying in %.0fs", IDLE)
            await wait_or_timeout(self._wake, self._sleep_for())

    def _sleep_for(self) -> float:
        pending = self.store.pending()
        if not pending:
            return IDLE
        return max(0.05, min(IDLE, min(p.due for p in pending) - time.time()))

    async def send_due(self) -> int:
        """Send every row that is due now; how many went through."""
        due = [p for p in self.store.pending() if p.due <= time.time()]
        if not due:
            return 0
        conn = connection.load(self.layout)
        if conn is None:
            return 0  # disconnected: the rows wait for a connection (or are dropped by disconnect)
        try:
            client = ForgeClient(conn, connection.load_token(self.layout))
        except HiveError as exc:
            for item in due:
                self._failed(item, str(exc))
            return 0
        sent = 0
        try:
            for item in due:
                try:
                    result = await self._send(client, item)
                except HiveError as exc:
                    self._failed(item, str(exc))
                else:
                    self.store.sent(item, result)
                    sent += 1
                    if self.publish is not None:
                        self.publish(ForgeCallSent(key=item.key, summary=str(result.get("summary", "ok"))))
                    log.info("forge: %s sent (%s)", item.key, result.get("summary", "ok"))
        finally:
            await client.close()
        return sent

    async def _send(self, client: ForgeClient, item: Pending) -> dict[str, Any]:
        p = item.payload
        if p["kind"] == "pull":
            return await PullSender(self.layout, self.store, client).send(p)
        if p["kind"] == "note":
            made = await client.create_comment(int(p["pr"]), p["body"])
            return {"id": made, "summary": f"comment {made} on #{p['pr']}"}
        if p["kind"] == "status":
            sid = await client.set_status(
                p["sha"], p["context"], p["state"], p["description"], p["target_url"]
            )
            return {"id": sid, "summary": f"{p['context']} {p['state']} on {p['sha'][:12]}"}
        pr = int(p["pr"])
        cid = self.store.comment_id(pr) or await client.find_comment(pr)
        if cid is not None:
            try:
                await client.edit_comment(cid, p["body"])
            except CommentGone:
                cid = None
            else:
                self.store.set_comment_id(pr, cid)
                return {"id": cid, "summary": f"plan comment {cid} on #{pr} edited"}
        cid = await client.create_comment(pr, p["body"])
        self.store.set_comment_id(pr, cid)
        return {"id": cid, "summary": f"plan comment {cid} on #{pr} created"}

    def _failed(self, item: Pending, error: str) -> None:
        delay = backoff(item.attempts + 1)
        self.store.failed(item, error, delay)
        log.warning("forge: %s failed (try %d, next in %.0fs): %s", item.key, item.attempts + 1, delay, error)
        if self.publish is not None:
            self.publish(
                ForgeCallFailed(key=item.key, attempts=item.attempts + 1, error=error, retry_in=delay)
            )
