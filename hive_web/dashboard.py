"""The operator's dashboard as an aiohttp application, and how `hive serve` runs it.

``create_app`` takes what the dashboard reads (the state layout, the event
feed) as parameters, so the daemon, the tests and the bench all build the
same app over real stores. ``start`` runs it with `AppRunner` + `TCPSite`
inside the caller's event loop; the caller owns the loop and the shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from desired.repo import Author
from hive_kit.paths import StateLayout
from hive_web.fanout import Fanout
from hive_web.feed import EventFeed
from hive_web.forgejo import HookState
from hive_web.http import error_middleware
from hive_web.keys import (
    AGENT_PORT,
    AUTHOR,
    CONFIG,
    COSTS,
    FANOUT,
    FEED,
    GUARD,
    HOOKS,
    HTTP,
    LAYOUT,
    LIFECYCLE,
    META,
    OPERATOR,
    PUBLISH,
    RECONCILER,
    STREAMS,
    AgentPort,
    Lifecycle,
    Publish,
    WebConfig,
)
from hive_web.meta import MetaWorker
from hive_web.operator import OperatorCall
from hive_web.recon import ReconcilerLink
from hive_web.refwatch import read_refs, watch_refs
from hive_web.routes import (
    agentpage,
    desired,
    edits,
    files,
    hooks,
    pages,
    reconcile,
    state,
    stream,
    threads,
)
from hive_web.security import TOKEN_FILE, Guard, is_loopback, load_or_create_token, security_middleware
from hive_web.views.agentinfo import CostCache

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def make_guard(layout: StateLayout, config: WebConfig) -> tuple[Guard, bool]:
    """The token guard, and whether the token was created now (so it is shown once)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    token, created = load_or_create_token(layout.root / TOKEN_FILE)
    loopback = is_loopback(config.host)
    return Guard(token=token, require_token=not loopback, loopback=loopback), created


async def _meta_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = MetaWorker(app[LAYOUT].meta)
    app[META] = worker
    yield
    worker.close()


async def _fanout_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[FANOUT].run(), name="hive-web-fanout")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    """The client that reaches agents' pages on loopback (one pool for all of them)."""
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def _refwatch_ctx(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    worker = app[META]
    task = asyncio.create_task(
        watch_refs(app[LAYOUT].meta, lambda: worker.run(read_refs), app[FANOUT], stop),
        name="hive-web-refwatch",
    )
    yield
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, timeout=2)


def create_app(
    layout: StateLayout,
    *,
    feed: EventFeed,
    operator: OperatorCall | None = None,
    reconciler: ReconcilerLink | None = None,
    lifecycle: Lifecycle | None = None,
    agent_port: AgentPort | None = None,
    publish: Publish | None = None,
    config: WebConfig | None = None,
    guard: Guard | None = None,
    watch_meta: bool = True,
) -> web.Application:
    """The dashboard app over the host's event log.

    ``operator`` runs host-core ops as the operator (questions, messages,
    reminders); ``reconciler`` gives status, plan, logs and purge; ``lifecycle``
    asks for restart/rebuild; ``agent_port`` finds an agent's harness page
    (served at /agents/<name>/); ``publish`` puts the dashboard's own events
    (webhook deliveries) on the host's log; ``watch_meta`` hints open pages
    when refs move.
    """
    config = config or WebConfig()
    guard = guard or make_guard(layout, config)[0]
    app = web.Application(
        middlewares=[error_middleware, security_middleware(guard)],
        client_max_size=config.max_body_bytes,
    )
    app[LAYOUT], app[CONFIG], app[GUARD] = layout, config, guard
    app[FEED], app[FANOUT], app[OPERATOR] = feed, Fanout(feed), operator
    app[RECONCILER], app[LIFECYCLE], app[AGENT_PORT] = reconciler, lifecycle, agent_port
    app[PUBLISH] = publish
    app[AUTHOR] = Author.parse(config.author)
    app[STREAMS], app[COSTS], app[HOOKS] = set(), CostCache(), HookState()
    app.cleanup_ctx.append(_meta_ctx)
    app.cleanup_ctx.append(_fanout_ctx)
    app.cleanup_ctx.append(_http_ctx)
    if watch_meta:
        app.cleanup_ctx.append(_refwatch_ctx)
    app.on_shutdown.append(stream.close_streams)
    groups = (pages, state, reconcile, edits, desired, files, stream, threads, agentpage, hooks)
    for group in groups:
        app.router.add_routes(group.routes)
    app.router.add_static("/static", STATIC, append_version=True)
    return app


async def start(app: web.Application, config: WebConfig) -> web.AppRunner:
    """Serve ``app`` on ``config.host:config.port``; call ``runner.cleanup()`` to stop."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=3)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    log.debug("dashboard on http://%s:%d/", config.host, config.port)
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (useful with port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the dashboard is not listening")
