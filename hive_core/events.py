"""One event stream for the whole host, with a `seq` that never goes back.

Why a table and not just a queue: the dashboard's SSE uses ``seq`` as the
event id, so a browser that reconnects with ``Last-Event-ID: 41`` must get
exactly the events after 41: none lost (they are read back from the history
table) and none twice (``seq`` is the table's rowid, assigned once, and
``AUTOINCREMENT`` keeps it growing across restarts even after old rows are
trimmed). ``subscribe`` replays history from the table and then waits on an
in-process wake-up, so a subscriber never polls.

Sinks run synchronously inside ``publish`` after the row is written; the
manager's inbox notices are one such sink (see ``hive_core.notices``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, cast

import apsw
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from hive_core.stores.batch import batch_for
from hive_kit.tasks import wait_set

log = logging.getLogger(__name__)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    seq: int = 0  # assigned by EventLog.publish
    ts: float = Field(default_factory=time.time)


class MessageSent(_Event):
    kind: Literal["message_sent"] = "message_sent"
    id: int
    sender: str
    recipient: str
    in_reply_to: int | None = None
    preview: str = ""


class MessageDelivered(_Event):
    kind: Literal["message_delivered"] = "message_delivered"
    recipient: str
    ids: list[int]


class QuestionAdded(_Event):
    kind: Literal["question_added"] = "question_added"
    id: int
    asker: str
    target: str
    question: str


class QuestionResolved(_Event):
    kind: Literal["question_resolved"] = "question_resolved"
    id: int
    asker: str
    target: str
    answer: str
    answerer: str


class ReminderSet(_Event):
    kind: Literal["reminder_set"] = "reminder_set"
    id: int
    agent: str
    due_at: float


class ReminderFired(_Event):
    kind: Literal["reminder_fired"] = "reminder_fired"
    id: int
    agent: str
    delivered: bool
    attempts: int
    error: str | None = None


class ReminderCancelled(_Event):
    kind: Literal["reminder_cancelled"] = "reminder_cancelled"
    id: int
    agent: str
    by: str


class ReminderRetried(_Event):
    """The operator (or anyone allowed) asked for a pending or failed reminder to be delivered now."""

    kind: Literal["reminder_retried"] = "reminder_retried"
    id: int
    agent: str
    by: str


class ProposalAdded(_Event):
    kind: Literal["proposal_added"] = "proposal_added"
    id: int
    author: str
    description: str


class ProposalResolved(_Event):
    kind: Literal["proposal_resolved"] = "proposal_resolved"
    id: int
    status: Literal["approved", "denied"]
    by: str
    note: str = ""
    description: str = ""


class AgentConditionChanged(_Event):
    """A reconciler condition (Ready, Reconciling, Stalled) of one agent changed."""

    kind: Literal["agent_condition_changed"] = "agent_condition_changed"
    agent: str
    condition: str
    status: bool
    reason: str = ""
    message: str = ""


class AgentSpawned(_Event):
    kind: Literal["agent_spawned"] = "agent_spawned"
    agent: str
    revision: str = ""


class AgentRebuilt(_Event):
    kind: Literal["agent_rebuilt"] = "agent_rebuilt"
    agent: str
    revision: str = ""


class AgentStarted(_Event):
    kind: Literal["agent_started"] = "agent_started"
    agent: str


class AgentStopped(_Event):
    kind: Literal["agent_stopped"] = "agent_stopped"
    agent: str


class AgentDestroyed(_Event):
    kind: Literal["agent_destroyed"] = "agent_destroyed"
    agent: str
    purged: bool = False


class ContainerCrash(_Event):
    kind: Literal["container_crash"] = "container_crash"
    agent: str
    detail: str = ""


class Deployed(_Event):
    kind: Literal["deployed"] = "deployed"
    agent: str
    revision: str
    proposal_id: int | None = None


class DeployFailed(_Event):
    kind: Literal["deploy_failed"] = "deploy_failed"
    agent: str
    revision: str
    error: str
    proposal_id: int | None = None


class HarnessHello(_Event):
    kind: Literal["harness_hello"] = "harness_hello"
    agent: str
    pid: int
    web_port: int = 0


class NeedsLogin(_Event):
    kind: Literal["needs_login"] = "needs_login"
    agent: str


class LoggedIn(_Event):
    kind: Literal["logged_in"] = "logged_in"
    agent: str


class BudgetPaused(_Event):
    """The host refused ``agent`` a turn: its spend today reached its budget (``hive_core.budgets``).

    Once per agent until it runs again (``BudgetResumed``); ``reason`` names spend, budget and fix.
    """

    kind: Literal["budget_paused"] = "budget_paused"
    agent: str
    reason: str = ""


class BudgetResumed(_Event):
    """A budget-paused agent may run again; ``how``: ``resumed for today by <who>`` or ``budget allows``."""

    kind: Literal["budget_resumed"] = "budget_resumed"
    agent: str
    how: str = ""


class WebhookReceived(_Event):
    """A delivery to the dashboard's Forgejo webhook, and what came of it.

    ``outcome`` is one word: fast-forwarded, up-to-date, reconcile (no remote),
    checked (a branch or pull request got its Forgejo checks), duplicate (a
    replayed delivery id), ignored, refused, failed, unauthorized,
    unconfigured, too-large or bad-request. ``ref`` and ``after`` are empty unless the signature checked out.
    """

    kind: Literal["webhook_received"] = "webhook_received"
    source: Literal["forgejo"] = "forgejo"
    delivery: str = ""
    event: str = ""
    ref: str = ""
    after: str = ""
    status: int
    outcome: str
    message: str = ""


class ForgeCallFailed(_Event):
    """A call to the Forgejo API failed; it is retried (``retry_in`` seconds) from the forge outbox.

    ``key`` names what was being sent: ``status:<sha>:<context>`` or ``comment:<pr>``.
    """

    kind: Literal["forge_call_failed"] = "forge_call_failed"
    key: str
    attempts: int
    error: str
    retry_in: float


class ForgeCallSent(_Event):
    """A call to the Forgejo API went through (``summary``: what Forgejo now shows, e.g. a status)."""

    kind: Literal["forge_call_sent"] = "forge_call_sent"
    key: str
    summary: str


class EgressDenied(_Event):
    """The egress proxy refused a connection an agent asked for (the egress log has every attempt).

    One per agent and host:port a minute at most (``hive_core.notices.DenialThrottle``);
    ``repeats`` counts the refused attempts of the same host:port folded into this one since the last.
    """

    kind: Literal["egress_denied"] = "egress_denied"
    agent: str
    host: str
    port: int
    reason: str = ""
    repeats: int = 0


Event = Annotated[
    MessageSent
    | MessageDelivered
    | QuestionAdded
    | QuestionResolved
    | ReminderSet
    | ReminderFired
    | ReminderCancelled
    | ReminderRetried
    | ProposalAdded
    | ProposalResolved
    | AgentConditionChanged
    | AgentSpawned
    | AgentRebuilt
    | AgentStarted
    | AgentStopped
    | AgentDestroyed
    | ContainerCrash
    | Deployed
    | DeployFailed
    | HarnessHello
    | NeedsLogin
    | LoggedIn
    | BudgetPaused
    | BudgetResumed
    | WebhookReceived
    | EgressDenied
    | ForgeCallFailed
    | ForgeCallSent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)


def event_dict(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json")


Sink = Callable[[Event], None]

MIGRATIONS_EVENTS = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX events_ts ON events(ts);
"""
"""The events table's creation; part of the core store's migrations (hive_core.stores.schema)."""


class EventLog:
    """Publish, read back and follow the host's events. One per daemon; not thread-safe."""

    def __init__(self, conn: apsw.Connection, *, max_rows: int = 100_000, max_age_s: float = 7 * 86400):
        self._conn = conn
        self._batch = batch_for(conn)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._sinks: list[tuple[Sink, frozenset[str]]] = []
        self._wake = asyncio.Event()
        self._last = self._read_last()

    def _read_last(self) -> int:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return cast(int, row[0]) if row else 0

    @property
    def last_seq(self) -> int:
        return self._last

    def last_ts(self) -> float | None:
        """When the newest kept event happened (about when the daemon was last alive)."""
        row = self._conn.execute("SELECT ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return cast(float, row[0]) if row else None

    def add_sink(self, sink: Sink, *, ignore: frozenset[str] = frozenset()) -> None:
        """Run ``sink`` on every published event except those of the kinds in ``ignore``."""
        self._sinks.append((sink, ignore))

    def publish(self, event: Event) -> int:
        """Persist ``event``, wake every subscriber, run the sinks; returns its ``seq``."""
        payload = event.model_dump_json(exclude={"seq"})
        self._batch.begin()  # one statement: atomic by itself, so no savepoint needed
        row = self._conn.execute(
            "INSERT INTO events (ts, kind, payload) VALUES (?, ?, ?) RETURNING seq",
            (event.ts, event.kind, payload),
        ).fetchone()
        seq = int(row[0]) if row else 0
        self._last = max(self._last, seq)
        self._wake.set()
        self._wake = asyncio.Event()
        sinks = [sink for sink, ignore in self._sinks if event.kind not in ignore]
        stamped = event.model_copy(update={"seq": seq}) if sinks else event
        for sink in sinks:
            try:
                sink(stamped)
            except Exception:
                log.exception("event sink %r failed on %s #%d", sink, event.kind, seq)
        return seq

    def read_since(self, seq: int, limit: int = 500) -> list[Event]:
        rows = self._conn.execute(
            "SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [_load(cast(int, s), cast(str, p)) for s, p in rows]

    async def wait_after(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until an event with seq > ``seq`` exists; False on timeout."""
        while self._last <= seq:
            wake = self._wake
            if not await wait_set(wake, timeout):
                return self._last > seq
        return True

    async def subscribe(self, since: int = 0, batch: int = 500) -> AsyncIterator[Event]:
        """Every event after ``since``, then each new one as it is published; never ends by itself."""
        cursor = since
        while True:
            events = self.read_since(cursor, batch)
            for event in events:
                cursor = event.seq
                yield event
            if not events:
                await self.wait_after(cursor)

    def trim(self, now: float | None = None) -> int:
        """Drop events older than ``max_age_s`` and beyond the newest ``max_rows``; returns how many."""
        now = time.time() if now is None else now
        with self._batch.write():
            self._conn.execute("DELETE FROM events WHERE ts < ?", (now - self.max_age_s,))
            aged = self._conn.changes()
            self._conn.execute("DELETE FROM events WHERE seq <= ?", (self._last - self.max_rows,))
            counted = self._conn.changes()
        return aged + counted


def _load(seq: int, payload: str) -> Event:
    return EVENT_ADAPTER.validate_json(payload).model_copy(update={"seq": seq})
