"""The harness registry: who said `hello`, when, and waiting for the next one.

The reconciler's health gate asks ``wait_hello(name, since=<apply time>)``
after it starts an agent; a hello from the new harness answers it at once
(one asyncio.Event per waiting agent, set by ``record``), so no one polls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from hive_kit.tasks import wait_set


@dataclass(frozen=True)
class Hello:
    name: str
    pid: int
    web_port: int
    at: float


class Harnesses:
    """In-memory ``HarnessRegistry``: hellos are a liveness signal, not durable state."""

    def __init__(self) -> None:
        self._last: dict[str, Hello] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def record(self, name: str, pid: int, web_port: int, at: float | None = None) -> Hello:
        hello = Hello(name, pid, web_port, time.time() if at is None else at)
        self._last[name] = hello
        waiter = self._waiters.pop(name, None)
        if waiter is not None:
            waiter.set()
        return hello

    def forget(self, name: str) -> None:
        self._last.pop(name, None)

    def last_hello(self, name: str) -> Hello | None:
        return self._last.get(name)

    def all(self) -> dict[str, Hello]:
        return dict(self._last)

    async def wait_hello(self, name: str, since: float, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            last = self._last.get(name)
            if last is not None and last.at >= since:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._waiters.setdefault(name, asyncio.Event())
            if not await wait_set(event, remaining):
                return False
