"""The swarm's turn slots: hive.json's ``max_concurrent_turns``, granted first come, first served.

A harness asks for a slot (the ``turn_slot`` op) on a connection of its own
before it starts ``claude``, and holds it for as long as that connection is
open. The slot goes back when the connection closes, whichever way: the
harness closed it at turn end, or its process died and the kernel closed it.
So a crashed harness cannot leak a slot, and nothing here trusts the harness
to say "done".

The table lives in the host and nowhere else. An agent holds at most one slot
at a time: a second ticket of the same agent (its shell calling the socket
while its harness holds one) waits until the first is released, so one
agent cannot take a second slot from the others. ``MAX_TICKETS_PER_AGENT``
bounds how many it may have waiting.

Pure bookkeeping, no I/O: the op handler (``hive_core.ops.agent``) parks on
a ticket's future and the socket server releases it on hang-up.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hive_kit.errors import LimitError

MAX_TICKETS_PER_AGENT = 2
LOG_LENGTH = 200


@dataclass(eq=False)
class Ticket:
    agent: str
    asked_at: float
    id: int
    granted_at: float | None = None
    granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True)
class SlotEvent:
    """One line of the slot log: who was granted or released a slot, and when (unix seconds)."""

    agent: str
    kind: str  # "granted" | "released" | "left-queue"
    at: float


@dataclass(frozen=True)
class SlotUsage:
    limit: int | None  # None: no cap
    running: tuple[tuple[str, float], ...]  # (agent, granted at), oldest first
    queued: tuple[tuple[str, float], ...]  # (agent, asked at), first in line first


class TurnSlots:
    def __init__(self, limit: Callable[[], int | None], clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._queue: deque[Ticket] = deque()
        self._held: dict[int, Ticket] = {}
        self._ids = itertools.count(1)
        self.log: deque[SlotEvent] = deque(maxlen=LOG_LENGTH)

    def ask(self, agent: str) -> Ticket:
        """A ticket in line; its ``granted`` future resolves when the slot is this agent's."""
        mine = sum(t.agent == agent for t in itertools.chain(self._queue, self._held.values()))
        if mine >= MAX_TICKETS_PER_AGENT:
            raise LimitError(
                f"{agent} already has {mine} turn-slot requests open; "
                "each is given back when its connection closes"
            )
        ticket = Ticket(agent, self._clock(), next(self._ids))
        self._queue.append(ticket)
        self.grant()
        return ticket

    def release(self, ticket: Ticket) -> None:
        """Give the slot back (or leave the line); safe to call twice."""
        if self._held.pop(ticket.id, None) is not None:
            self.log.append(SlotEvent(ticket.agent, "released", self._clock()))
        elif ticket in self._queue:
            self._queue.remove(ticket)
            self.log.append(SlotEvent(ticket.agent, "left-queue", self._clock()))
            if not ticket.granted.done():
                ticket.granted.cancel()
        self.grant()

    def grant(self) -> None:
        """Hand free slots to the first tickets in line whose agent holds none (also after a limit change)."""
        limit = self._limit()
        holding = {t.agent for t in self._held.values()}
        for ticket in list(self._queue):
            if limit is not None and len(self._held) >= limit:
                return
            if ticket.agent in holding:
                continue
            self._queue.remove(ticket)
            ticket.granted_at = self._clock()
            self._held[ticket.id] = ticket
            holding.add(ticket.agent)
            self.log.append(SlotEvent(ticket.agent, "granted", ticket.granted_at))
            if not ticket.granted.done():
                ticket.granted.set_result(None)

    def usage(self) -> SlotUsage:
        held = sorted(self._held.values(), key=lambda t: t.granted_at or 0.0)
        return SlotUsage(
            self._limit(),
            tuple((t.agent, t.granted_at or 0.0) for t in held),
            tuple((t.agent, t.asked_at) for t in self._queue),
        )
