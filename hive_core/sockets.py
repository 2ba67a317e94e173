"""The daemon's unix sockets: admin (the operator), manager, and one per other agent.

A socket's path is its identity: every connection accepted on
``run/agents/coder/hive.sock`` is ``coder``, and every connection on the
``egress.sock`` beside it goes out (or is refused) as ``coder``
(``hive_core.egress.EgressProxy``), and every model call on ``model.sock``
is billed to ``coder`` (``hive_core.gateway``). The three are opened and
closed together.

Modes: ``run/`` and the admin socket are the daemon's alone (0700, 0600).
Each agent's socket directory is bound at ``/run/hive`` in its sandbox and
belongs to the agent's own group (``hive_core.identities``): the directory
``root:G 0750``, its sockets ``root:G 0660`` — created 0600 under a umask and
only then handed to the group, never open to anyone else. A daemon that is
not root has no groups to give; everything then stays 0700/0600.

The set of agent sockets follows desired state: ``sync_agents`` adds and
removes them (the meta watch calls it when `main` moves; the reconciler may
call it before starting an agent), and moves the manager's egress socket to
whoever is the manager now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from hive_core.core import OPERATOR_CALLER, Caller, HostCore
from hive_core.egress import EgressProxy
from hive_core.gateway import serve_on
from hive_core.identities import DAEMON_SOCKETS, PAGE_DIR, AgentIds, grant_run_dir, secure_socket
from hive_core.server import Connection
from hive_kit.names import Role

log = logging.getLogger(__name__)


def bind_private(path: Path) -> socket.socket:
    """A unix socket bound at ``path``, born 0600: nobody but the daemon can connect before
    ``secure_socket`` runs. The umask is set for the ``bind`` alone, never across an await
    (another task would create its files under it)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket from a daemon that died
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock


class Listener:
    """One listening unix socket whose connections all speak as ``caller_fn()``."""

    def __init__(self, core: HostCore, path: Path, role: Role, caller_fn: Callable[[], Caller]) -> None:
        self.core = core
        self.path = path
        self.role = role
        self.caller_fn = caller_fn
        self._server: asyncio.Server | None = None
        self._conns: set[Connection] = set()

    async def start(self, ids: AgentIds | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock = bind_private(self.path)
        self._server = await asyncio.get_running_loop().create_unix_server(self._connection, sock=sock)
        secure_socket(self.path, ids)

    def regroup(self, ids: AgentIds | None) -> None:
        """Hand the live socket to another agent's group (the manager changed)."""
        if self._server is not None:
            secure_socket(self.path, ids)

    def _connection(self) -> Connection:
        conn = Connection(self.core, self.caller_fn, self.role)
        self._conns.add(conn)
        conn.closed.add_done_callback(lambda _f: self._conns.discard(conn))
        return conn

    async def close(self) -> None:
        """Stop listening and remove the socket; its directory stays (a sandbox may have it bound)."""
        if self._server is not None:
            self._server.close()
        conns = list(self._conns)
        for conn in conns:
            conn.abort()
        if conns:
            await asyncio.wait([c.closed for c in conns], timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class EgressListener:
    """One agent's ``egress.sock``: the host's proxy, speaking for ``agent`` whatever a request says."""

    def __init__(self, core: HostCore, path: Path, agent: str) -> None:
        self.path = path
        self.agent = agent
        self.proxy = EgressProxy(agent, lambda: core.egress_policy(agent), core.record_egress)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, ids: AgentIds | None) -> None:
        sock = bind_private(self.path)
        self._server = await asyncio.start_unix_server(self._accept, sock=sock)
        secure_socket(self.path, ids)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.proxy.handle(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class ModelListener:
    """One agent's ``model.sock``: the host's model-API gateway, billing ``agent`` whatever a request says."""

    def __init__(self, core: HostCore, path: Path, agent: str) -> None:
        self.core = core
        self.path = path
        self.agent = agent
        self._runner: web.AppRunner | None = None

    async def start(self, ids: AgentIds | None) -> None:
        sock = bind_private(self.path)
        self._runner = await serve_on(self.core.gateway, self.agent, sock)
        secure_socket(self.path, ids)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class AgentPorts:
    """The egress proxy and the model gateway of one agent: opened and closed together."""

    def __init__(self, core: HostCore, name: str, *, is_manager: bool) -> None:
        layout = core.layout
        self.agent = name
        self.egress = EgressListener(core, layout.egress_socket_for(name, is_manager=is_manager), name)
        self.model = ModelListener(core, layout.model_socket_for(name, is_manager=is_manager), name)

    async def start(self, ids: AgentIds | None) -> None:
        await self.egress.start(ids)
        await self.model.start(ids)

    async def close(self) -> None:
        await self.egress.close()
        await self.model.close()


def _remove_agent_dir(path: Path) -> None:
    """An agent's socket directory once it left desired state; left alone if someone put more there.

    ``page/`` sits in a directory only root can write, so it cannot have been swapped for a link.
    """
    for name in (*DAEMON_SOCKETS, f"{PAGE_DIR}/page.sock"):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            (path / name).unlink()
    for directory in (path / PAGE_DIR, path):
        with contextlib.suppress(OSError):  # not empty: someone put something there; leave it
            directory.rmdir()


class SocketSet:
    def __init__(self, core: HostCore) -> None:
        self.core = core
        layout = core.layout
        self.admin = Listener(core, layout.admin_socket, Role.OPERATOR, lambda: OPERATOR_CALLER)
        self.manager = Listener(core, layout.manager_socket, Role.MANAGER, core.manager_caller)
        self.manager_egress: AgentPorts | None = None
        self.agents: dict[str, Listener] = {}  # hive.sock of each agent but the manager
        self.egress: dict[str, AgentPorts] = {}  # and the egress.sock and model.sock beside it
        self.after_sync: list[Callable[[], None]] = []  # e.g. the TLS broker drops removed agents
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.core.layout.run.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.core.layout.run, 0o700)
        # The admin socket comes up last: once it answers, every agent's socket is there too.
        ids = await self._manager_ids()
        grant_run_dir(self.manager.path.parent, ids)
        await self.manager.start(ids)
        await self.sync_agents()
        await self.admin.start()

    def wanted_agents(self) -> set[str]:
        state = self.core.desired.current().state
        return {name for name, spec in state.agents.items() if spec.role is not Role.MANAGER}

    async def _manager_ids(self) -> AgentIds | None:
        name = self.core.desired.manager_name()
        return None if name is None else await self.core.agent_ids(name)

    async def sync_agents(self) -> None:
        """Make `run/agents/` hold exactly one socket pair per non-manager agent in desired state,
        and the manager's egress socket speak for the manager desired state names now."""
        async with self._lock:
            wanted = self.wanted_agents()
            for name in sorted(wanted - self.agents.keys()):
                await self._open_agent(name)
            for name in sorted(self.agents.keys() - wanted):
                await self._close_agent(name)
                _remove_agent_dir(self.core.layout.run_dir_for(name, is_manager=False))
                self.core.harnesses.forget(name)
                log.info("sockets for agent %s removed (no longer in desired state)", name)
            self._drop_stale_dirs(wanted)
            await self._sync_manager_egress()
            for callback in self.after_sync:
                callback()

    async def _open_agent(self, name: str) -> None:
        layout = self.core.layout
        ids = await self.core.agent_ids(name)
        grant_run_dir(layout.run_dir_for(name, is_manager=False), ids)
        listener = Listener(
            self.core,
            layout.socket_for(name, is_manager=False),
            Role.AGENT,
            lambda: self.core.agent_caller(name),
        )
        egress = AgentPorts(self.core, name, is_manager=False)
        await listener.start(ids)
        self.agents[name] = listener
        self.egress[name] = egress  # before it starts: a cancelled start is still closed
        await egress.start(ids)
        log.info("sockets for agent %s are up in %s", name, listener.path.parent)

    async def _close_agent(self, name: str) -> None:
        await self.agents.pop(name).close()
        egress = self.egress.pop(name, None)
        if egress is not None:
            await egress.close()

    async def _sync_manager_egress(self) -> None:
        name = self.core.desired.manager_name()
        current = self.manager_egress
        if current is not None and current.agent == name:
            return
        if current is not None:
            await current.close()
            self.manager_egress = None
        ids = await self._manager_ids()
        grant_run_dir(self.manager.path.parent, ids)
        self.manager.regroup(ids)
        if name is None:
            return
        egress = AgentPorts(self.core, name, is_manager=True)
        await egress.start(ids)
        self.manager_egress = egress
        log.info("manager %s: egress and model sockets are up at %s", name, egress.egress.path.parent)

    def _drop_stale_dirs(self, wanted: set[str]) -> None:
        """Directories of agents removed while the daemon was down."""
        base = self.core.layout.agent_socket("x").parent.parent
        if not base.is_dir():
            return
        for path in base.iterdir():
            if path.is_dir() and path.name not in wanted:
                _remove_agent_dir(path)

    async def close(self) -> None:
        # under the sync's lock: a stop that landed while sync_agents was opening an agent's
        # sockets closed the ones registered and leaked the egress and model sockets still starting
        async with self._lock:
            for listener in [self.admin, self.manager]:
                await listener.close()
            if self.manager_egress is not None:
                await self.manager_egress.close()
                self.manager_egress = None
            for name in list(self.agents):
                await self._close_agent(name)
        await self.core.gateway.close()
