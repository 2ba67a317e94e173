"""Typed application state (`web.AppKey`) shared by the dashboard's route groups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from desired.repo import Author
from hive_core.events import Event
from hive_kit.paths import StateLayout
from hive_web.fanout import Fanout
from hive_web.feed import EventFeed
from hive_web.forgejo import HookState
from hive_web.meta import MetaWorker
from hive_web.operator import OperatorCall
from hive_web.recon import ReconcilerLink
from hive_web.security import Guard
from hive_web.views.agentinfo import CostCache


@dataclass(frozen=True)
class WebConfig:
    """How the dashboard is served. Non-loopback hosts require the bearer token."""

    host: str = "127.0.0.1"
    port: int = 7000
    max_body_bytes: int = 256 * 1024
    author: str = "operator <operator@hyperhive.local>"
    sse_retry_ms: int = 1000
    sse_ping_seconds: float = 15.0


LAYOUT = web.AppKey("layout", StateLayout)
CONFIG = web.AppKey("config", WebConfig)
FEED = web.AppKey("feed", EventFeed)
FANOUT = web.AppKey("fanout", Fanout)
GUARD = web.AppKey("guard", Guard)
META = web.AppKey("meta", MetaWorker)
AUTHOR = web.AppKey("author", Author)
OPERATOR: web.AppKey[OperatorCall | None] = web.AppKey("operator")
RECONCILER: web.AppKey[ReconcilerLink | None] = web.AppKey("reconciler")
Lifecycle = Callable[[str, str], Awaitable[str]]
"""(action, agent) → a note; restart and rebuild ask the reconciler (never the runtime)."""
LIFECYCLE: web.AppKey[Lifecycle | None] = web.AppKey("lifecycle")
AgentPort = Callable[[str], int | None]
"""An agent's harness page port (from its last hello), or None while it has none."""
AGENT_PORT: web.AppKey[AgentPort | None] = web.AppKey("agent_port")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")
COSTS = web.AppKey("costs", CostCache)
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("streams")
HOOKS = web.AppKey("hooks", HookState)
Publish = Callable[[Event], int]
"""Publish one event on the host's event log (``HostCore.events.publish``); returns its seq."""
PUBLISH: web.AppKey[Publish | None] = web.AppKey("publish")
