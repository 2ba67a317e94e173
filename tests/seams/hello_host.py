"""Test seam: the host side of agent sockets, standing in for hive_core's daemon until it is merged.

It really listens on each agent's unix socket (the path the daemon would
use), reads JSON lines and records a ``hello`` with its time, answering
``{"ok": true}`` like the daemon. It implements ``hive_core.control.HarnessRegistry``
and the reconciler's ``AgentSockets`` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

from hive_core.harnesses import Hello
from hive_kit.paths import StateLayout


class HelloHost:
    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.servers: dict[str, asyncio.base_events.Server] = {}
        self.hellos: dict[str, list[float]] = {}
        self.changed = asyncio.Condition()
        self.clients: dict[str, set[asyncio.StreamWriter]] = {}

    async def open_agent(self, name: str, *, is_manager: bool) -> Path:
        path = self.layout.socket_for(name, is_manager=is_manager)
        if name in self.servers:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.servers[name] = await asyncio.start_unix_server(
            lambda r, w: self._serve(name, r, w), path=str(path)
        )
        return path

    async def close_agent(self, name: str) -> None:
        server = self.servers.pop(name, None)
        for writer in self.clients.pop(name, set()):
            writer.close()
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.setdefault(name, set()).add(writer)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            async for line in reader:
                request = json.loads(line)
                if request.get("op") == "hello":
                    async with self.changed:
                        self.hellos.setdefault(name, []).append(time.time())
                        self.changed.notify_all()
                writer.write(b'{"ok": true}\n')
                await writer.drain()
        self.clients.get(name, set()).discard(writer)
        writer.close()

    async def wait_hello(self, name: str, since: float, timeout: float) -> bool:
        def said() -> bool:
            return any(t >= since for t in self.hellos.get(name, []))

        if said():
            return True
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(said), timeout)
            except TimeoutError:
                return False
        return True

    def last_hello(self, name: str) -> Hello | None:
        said = self.hellos.get(name)
        return Hello(name, 0, 0, said[-1]) if said else None

    async def close(self) -> None:
        for name in list(self.servers):
            await self.close_agent(name)
