"""Where an agent's page API lives: the unix socket its harness serves, ``page/page.sock``.

The harness serves its page API on a unix socket in the agent's socket
directory (``StateLayout.page_socket_for``; ``/run/hive/page/page.sock`` in
the sandbox), never on a TCP port: no other process on the host network, and
no agent, can reach it, and there are no ports to hand out or to collide.
The dashboard is its only client: the route group
(``hive_web.routes.agentpage``) and the stream relay
(``hive_web.streams.agentpage``) reach it through ``upstream``, behind the
dashboard's own session, Origin and CSRF checks.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from hive_kit.errors import UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.keys import DEPS, PAGES

PAGE_BASE = "http://agent-page"
"""The URL base sent over the socket (the harness ignores the host; there is no port to name)."""


class PageClients:
    """One HTTP client per page socket, made on first use and closed with the app.

    Each request opens a fresh connection (``force_close``): a harness that
    restarted re-created its socket, and a pooled connection to the old one
    would fail the next request.
    """

    def __init__(self) -> None:
        self._clients: dict[Path, aiohttp.ClientSession] = {}

    def get(self, path: Path) -> aiohttp.ClientSession:
        client = self._clients.get(path)
        if client is None or client.closed:
            client = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path), force_close=True))
            self._clients[path] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


def upstream(request: web.Request) -> tuple[str, aiohttp.ClientSession, Path]:
    """(agent name, a client bound to its page socket, the socket), or a 4xx/503 that says why not."""
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise UserError(f"agent {name!r}: {why}")
    lookup = request.app[DEPS].agent_page
    path = lookup(name) if lookup is not None else None
    if path is None:
        raise UnavailableError(
            f"agent {name} has no page right now: it is not running or has not said hello yet"
        )
    return name, request.app[PAGES].get(path), path


def unreachable(name: str, path: Path, exc: Exception) -> web.HTTPBadGateway:
    """The 502 for a harness page that does not answer."""
    return web.HTTPBadGateway(
        text=f"the page of agent {name} (socket {path}) does not answer ({exc}); is it running?"
    )
