"""Where budget-paused agents' turn-slot requests wait until the agent may run again.

The harness asks for a turn slot; when the host refuses it for the budget it
asks again with ``wait=true``, and that request parks here instead of the
harness polling. It is let go the moment the agent may run again: ``poke()``
is called when desired state changes (a raised budget) and when the
operator resumes an agent for today, and each waiter also looks again at
00:00 UTC (or every ``recheck_seconds``, whichever comes first, in case a
wake-up was missed). The wait belongs to the request's connection: a harness
that dies drops its connection, the op is cancelled, nothing stays behind.

``paused`` is the host's own list of agents it refused (name → reason), for
``hive status`` and the ``budget_paused`` / ``budget_resumed`` events: the
host does not take the harness's word for it.

No I/O here; ``check`` (the caller's) reads desired state and the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from hive_kit.errors import LimitError

RECHECK_SECONDS = 300.0
MAX_HELD_PER_AGENT = 2
"""An agent's shell can call ``turn_slot`` too: it may not park more requests than its harness needs."""


def seconds_to_midnight(now: float) -> float:
    """Seconds from ``now`` to the next 00:00 UTC."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp() - now


class BudgetGate:
    def __init__(self, clock: Callable[[], float], recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._clock = clock
        self.recheck_seconds = recheck_seconds
        self._waiters: set[asyncio.Event] = set()
        self._held: dict[str, int] = {}
        self.paused: dict[str, str] = {}
        """Agents refused a turn for their budget and not granted one since, with the reason."""

    def poke(self) -> None:
        """Something that can lift a pause changed: every held request looks again now."""
        for waiter in self._waiters:
            waiter.set()

    def held(self, agent: str) -> int:
        return self._held.get(agent, 0)

    async def hold(self, agent: str, check: Callable[[], Awaitable[str | None]]) -> None:
        """Return once ``check()`` says None (no refusal); cancelled with the request's connection."""
        if self.held(agent) >= MAX_HELD_PER_AGENT:
            raise LimitError(
                f"{agent} already has {MAX_HELD_PER_AGENT} turn-slot requests held for its budget; "
                "each is let go when its connection closes"
            )
        self._held[agent] = self.held(agent) + 1
        try:
            await self._hold(check)
        finally:
            self._held[agent] -= 1
            if not self._held[agent]:
                del self._held[agent]

    async def _hold(self, check: Callable[[], Awaitable[str | None]]) -> None:
        while True:
            woken = asyncio.Event()
            self._waiters.add(woken)  # before the check, so a poke during it is not lost
            try:
                if await check() is None:
                    return
                timeout = min(seconds_to_midnight(self._clock()) + 1.0, self.recheck_seconds)
                with contextlib.suppress(TimeoutError):  # not wait_for: see hive_kit.tasks.wait_or_timeout
                    async with asyncio.timeout(timeout):
                        await woken.wait()
            finally:
                self._waiters.discard(woken)
