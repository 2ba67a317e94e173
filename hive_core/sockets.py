"""The daemon's unix sockets: admin (the operator), manager, and one per other agent.

A socket's path is its identity: every connection accepted on
``run/agents/coder/hive.sock`` is ``coder``. Sockets are created 0600 inside a
0700 ``run/`` so only the daemon's user (and, through a bind mount, the one
sandbox given that socket) can connect. The set of agent sockets follows
desired state: ``sync_agents`` adds and removes them (the meta watch calls it
when `main` moves; the reconciler may call it before starting an agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from hive_core.core import OPERATOR_CALLER, Caller, HostCore
from hive_core.server import Connection
from hive_kit.names import Role

log = logging.getLogger(__name__)


class Listener:
    """One listening unix socket whose connections all speak as ``caller_fn()``."""

    def __init__(self, core: HostCore, path: Path, role: Role, caller_fn: Callable[[], Caller]) -> None:
        self.core = core
        self.path = path
        self.role = role
        self.caller_fn = caller_fn
        self._server: asyncio.Server | None = None
        self._conns: set[Connection] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket from a daemon that died
        old = os.umask(0o177)
        try:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_unix_server(self._connection, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    def _connection(self) -> Connection:
        conn = Connection(self.core, self.caller_fn, self.role)
        self._conns.add(conn)
        conn.closed.add_done_callback(lambda _f: self._conns.discard(conn))
        return conn

    async def close(self, *, remove_dir: bool = False) -> None:
        """Stop listening and remove the socket; its directory stays (a sandbox may have it bound)
        unless ``remove_dir`` (the agent left desired state)."""
        if self._server is not None:
            self._server.close()
        conns = list(self._conns)
        for conn in conns:
            conn.abort()
        if conns:
            await asyncio.wait([c.closed for c in conns], timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if remove_dir:
            _remove_agent_dir(self.path.parent)


def _remove_agent_dir(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (path / "hive.sock").unlink()
    with contextlib.suppress(OSError):  # not empty: someone put something there; leave it
        path.rmdir()


class SocketSet:
    def __init__(self, core: HostCore) -> None:
        self.core = core
        layout = core.layout
        self.admin = Listener(core, layout.admin_socket, Role.OPERATOR, lambda: OPERATOR_CALLER)
        self.manager = Listener(core, layout.manager_socket, Role.MANAGER, core.manager_caller)
        self.agents: dict[str, Listener] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.core.layout.run.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.core.layout.run, 0o700)
        # The admin socket comes up last: once it answers, every agent's socket is there too.
        await self.sync_agents()
        await self.manager.start()
        await self.admin.start()

    def wanted_agents(self) -> set[str]:
        state = self.core.desired.current().state
        return {name for name, spec in state.agents.items() if spec.role is not Role.MANAGER}

    async def sync_agents(self) -> None:
        """Make `run/agents/` hold exactly one socket per non-manager agent in desired state."""
        async with self._lock:
            wanted = self.wanted_agents()
            for name in sorted(wanted - self.agents.keys()):
                listener = Listener(
                    self.core,
                    self.core.layout.socket_for(name, is_manager=False),
                    Role.AGENT,
                    lambda name=name: self.core.agent_caller(name),  # type: ignore[misc]
                )
                await listener.start()
                self.agents[name] = listener
                log.info("socket for agent %s is up at %s", name, listener.path)
            for name in sorted(self.agents.keys() - wanted):
                await self.agents.pop(name).close(remove_dir=True)
                self.core.harnesses.forget(name)
                log.info("socket for agent %s removed (no longer in desired state)", name)
            self._drop_stale_dirs(wanted)

    def _drop_stale_dirs(self, wanted: set[str]) -> None:
        """Directories of agents removed while the daemon was down."""
        base = self.core.layout.agent_socket("x").parent.parent
        if not base.is_dir():
            return
        for path in base.iterdir():
            if path.is_dir() and path.name not in wanted:
                _remove_agent_dir(path)

    async def close(self) -> None:
        for listener in [self.admin, self.manager, *self.agents.values()]:
            await listener.close()
        self.agents.clear()
