"""The health gate for a one-shot `hive reconcile`: hear the harness's `hello` without a daemon.

The daemon decides an agent is healthy when its harness says ``hello`` on its
socket. A one-shot `hive reconcile` (no `hive serve` running) has no daemon to
hear it, and "still running after two seconds" passes a harness that is up
but never reaches its socket. So for the duration of the pass this listens on
each agent's socket itself, records hellos (``hive_core.harnesses``) and
answers every other request with ``unavailable`` — the harness already treats
that as "the host is not up yet", keeps retrying, and greets the daemon when
`hive serve` starts and re-creates the socket.

Sockets are made the daemon's way (0600 in a 0700 directory). On close a
socket is removed only if it is still ours, so a `hive serve` that started
meanwhile keeps its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from hive_core import harnesses
from hive_core.harnesses import Harnesses
from hive_core.sockets import bind_private
from hive_kit.paths import StateLayout
from hive_kit.wire import Done, ErrorBody, ErrorResponse, Hello, encode

log = logging.getLogger(__name__)

_NO_DAEMON = (
    "no hive daemon is running: this socket is served by a one-shot `hive reconcile`, which only "
    "hears hello; start `hive serve` (the harness greets it by itself)"
)


class OneShotHost:
    """Both ``hive_core.control.HarnessRegistry`` and ``AgentSockets`` for a pass without the daemon."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.harnesses = Harnesses()
        self._servers: dict[str, tuple[asyncio.Server, Path, int]] = {}  # name → (server, path, inode)
        self._conns: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}

    async def wait_hello(self, name: str, since: float, timeout: float) -> bool:
        return await self.harnesses.wait_hello(name, since, timeout)

    def last_hello(self, name: str) -> harnesses.Hello | None:
        return self.harnesses.last_hello(name)

    async def open_agent(self, name: str, *, is_manager: bool) -> Path:
        path = self.layout.socket_for(name, is_manager=is_manager)
        if name in self._servers:
            return path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock = bind_private(path)  # the umask only around the bind, never across the await below
        server = await asyncio.start_unix_server(lambda r, w: self._accept(name, r, w), sock=sock)
        self._servers[name] = (server, path, path.stat().st_ino)
        return path

    async def close_agent(self, name: str) -> None:
        entry = self._servers.pop(name, None)
        if entry is not None:
            _close(*entry)
        self.harnesses.forget(name)

    async def close(self) -> None:
        for name in list(self._servers):
            await self.close_agent(name)
        tasks = [t for t in self._conns.values() if t is not None]
        for writer in list(self._conns):
            writer.close()  # its reader sees end of file: the handler returns (no cancel noise)
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    async def _accept(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns[writer] = asyncio.current_task()
        try:
            while line := await reader.readline():
                writer.write(self._answer(name, line))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the agent went away or sent a line past the limit: nothing to hear
        finally:
            writer.close()
            self._conns.pop(writer, None)

    def _answer(self, name: str, line: bytes) -> bytes:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("op") == "hello":
            hello = Hello.model_validate(data)
            self.harnesses.record(name, hello.pid, hello.web_port)
            log.info("agent %s: said hello (pid %s)", name, hello.pid)
            return encode(Done(note="hello heard by a one-shot `hive reconcile`"))
        return encode(ErrorResponse(error=ErrorBody(code="unavailable", message=_NO_DAEMON)))


def _close(server: asyncio.Server, path: Path, inode: int) -> None:
    server.close()
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_ino == inode:  # a daemon started meanwhile owns a new socket here
            path.unlink()
