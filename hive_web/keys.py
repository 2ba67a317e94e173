"""How the dashboard is served (``WebConfig``), and its typed application state (`web.AppKey`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from desired.repo import Author
from hive_web.forgejo import HookState
from hive_web.meta import MetaWorker
from hive_web.sessions import Sessions
from hive_web.streams.fanout import Fanout

if TYPE_CHECKING:
    from hive_web.deps import Deps  # which imports WebConfig from here
    from hive_web.forge_checks import ForgeLink
    from hive_web.readers.agentpage import PageClients


@dataclass(frozen=True)
class WebConfig:
    """How the dashboard is served. Every bind requires a session or the bearer token."""

    host: str = "127.0.0.1"
    port: int = 7000
    max_body_bytes: int = 256 * 1024
    author: str = "operator <operator@hyperhive.local>"
    sse_retry_ms: int = 1000
    sse_ping_seconds: float = 15.0


DEPS: web.AppKey[Deps] = web.AppKey("deps")
"""What the app was built over (``hive_web.deps.Deps``): layout, feed, guard, config, the host's hooks."""
FANOUT = web.AppKey("fanout", Fanout)
META = web.AppKey("meta", MetaWorker)
AUTHOR = web.AppKey("author", Author)
PAGES: web.AppKey[PageClients] = web.AppKey("pages")
"""One HTTP client per agent page socket (``hive_web.readers.agentpage``)."""
SESSIONS = web.AppKey("sessions", Sessions)
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("streams")
HOOKS = web.AppKey("hooks", HookState)
FORGE: web.AppKey[ForgeLink] = web.AppKey("forge")
"""The forge outbox and its sender (``hive_web.forge_checks``): the daemon's forge component's
(``Deps.forge``), or one the app opens when it runs alone (``hive_web.forge_component.forge_ctx``)."""
