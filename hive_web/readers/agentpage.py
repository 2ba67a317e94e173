"""Where an agent's page API lives: the loopback port its harness announced in its last hello.

The harness serves its page API on 127.0.0.1:<web_port> with no
authentication of its own; the dashboard's route group
(``hive_web.routes.agentpage``) and stream relay
(``hive_web.streams.agentpage``) reach it through ``upstream``.
"""

from __future__ import annotations

from aiohttp import web

from hive_kit.errors import UnavailableError, UserError
from hive_kit.names import name_problem
from hive_web.keys import DEPS


def upstream(request: web.Request) -> tuple[str, str]:
    """(agent name, base URL of its harness page), or a 4xx/503 that says why not."""
    name = request.match_info["name"]
    why = name_problem(name)
    if why is not None:
        raise UserError(f"agent {name!r}: {why}")
    lookup = request.app[DEPS].agent_port
    port = lookup(name) if lookup is not None else None
    if not port:
        raise UnavailableError(
            f"agent {name} has no page right now: it is not running or has not said hello yet"
        )
    return name, f"http://127.0.0.1:{port}"


def unreachable(name: str, base: str, exc: Exception) -> web.HTTPBadGateway:
    """The 502 for a harness page that does not answer."""
    return web.HTTPBadGateway(
        text=f"the page of agent {name} at {base} does not answer ({exc}); is it running?"
    )
