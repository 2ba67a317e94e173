"""The health gate after apply, and the host hooks the reconciler needs from the daemon.

After a create, update or start the agent's harness must announce itself
(a ``hello`` on its socket) within a timeout, else the agent is marked
degraded with the reason. The daemon's registry of hellos
(``hive_core.control.HarnessRegistry``, the one protocol for it) records
them; the reconciler only waits on it. A one-shot `hive reconcile`
listens for the hellos itself (``reconciler.oneshot``). ``AliveHealth`` is
the fallback where nobody can listen (a runtime tested alone): the process
must still be running after a short settle time — which still catches an
agent that exits at once, but not one that never reaches its socket.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Protocol

from reconciler.model import ContainerState
from reconciler.runtime.base import Runtime


class AgentSockets(Protocol):
    """The daemon opens the host end of an agent's socket before the agent starts."""

    async def open_agent(self, name: str, *, is_manager: bool) -> Path: ...

    async def close_agent(self, name: str) -> None: ...


class NoSockets:
    """Used when no daemon serves the sockets (one-shot CLI, tests of the runtime alone)."""

    async def open_agent(self, name: str, *, is_manager: bool) -> Path:
        return Path()

    async def close_agent(self, name: str) -> None:
        return None


class AliveHealth:
    """A ``HarnessRegistry`` where no one hears hellos: healthy = still running ``settle`` seconds
    after start."""

    def __init__(self, runtime: Runtime, settle: float = 2.0) -> None:
        self.runtime = runtime
        self.settle = settle

    async def wait_hello(self, name: str, since: float, timeout: float) -> bool:
        remaining = since + self.settle - time.time()
        if remaining > 0:
            await asyncio.sleep(min(remaining, timeout))
            if remaining > timeout:
                return False
        observed = (await self.runtime.list()).get(name)
        if observed is not None and observed.state is ContainerState.RUNNING:
            return True
        # not yet: wait out the slice, as a hello would be waited for. Returning at once made the
        # health gate a busy loop, which starved a runtime whose list() never suspends (the
        # kubernetes runtime's cache): its watch never ran, so the pod never looked running
        await asyncio.sleep(max(0.0, timeout - max(remaining, 0.0)))
        return False

    def last_hello(self, name: str) -> None:
        return None  # nobody listens, so nobody has said hello
