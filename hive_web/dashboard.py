"""The operator's dashboard as an aiohttp application, and how it is served.

``create_app`` takes one ``hive_web.deps.Deps``: the state layout, the host's
event log, the guard and whatever the host hands in (op handlers, the
reconciler's reads and control, agents' page sockets, login codes). The daemon, the tests
and the bench build the same app over real stores. ``start`` runs it with
`AppRunner` + `TCPSite` inside the caller's event loop; the caller owns the
loop and the shutdown. The app watches nothing itself: whoever runs it feeds
ref moves to ``streams.fanout.desired_hints(app[FANOUT])`` (`hive serve`
subscribes it on the host core's meta watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from desired.repo import Author
from hive_kit.paths import StateLayout
from hive_web.deps import Deps
from hive_web.forge_component import forge_ctx
from hive_web.forgejo import HookState
from hive_web.http import error_middleware
from hive_web.keys import AUTHOR, DEPS, FANOUT, HOOKS, META, PAGES, SESSIONS, STREAMS, WebConfig
from hive_web.meta import MetaWorker
from hive_web.readers.agentpage import PageClients
from hive_web.routes import agentpage, desired, edits, files, hooks, pages, reconcile, state, threads
from hive_web.routes import egress as egress_routes
from hive_web.routes import forge as forge_routes
from hive_web.security import TOKEN_FILE, Guard, is_loopback, load_or_create_token, security_middleware
from hive_web.sessions import SESSIONS_FILE, Sessions
from hive_web.streams import agentpage as agentpage_stream
from hive_web.streams import dashboard as dashboard_stream
from hive_web.streams.fanout import Fanout
from hive_web.streams.registry import close_streams

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ROUTE_GROUPS = (
    pages,
    state,
    reconcile,
    edits,
    desired,
    files,
    dashboard_stream,
    threads,
    agentpage,
    agentpage_stream,
    hooks,
    egress_routes,
    forge_routes,
)


def make_guard(layout: StateLayout, config: WebConfig) -> tuple[Guard, bool]:
    """The token guard, and whether the token was created now."""
    layout.root.mkdir(parents=True, exist_ok=True)
    token, created = load_or_create_token(layout.root / TOKEN_FILE)
    return Guard(token=token, loopback=is_loopback(config.host)), created


async def _meta_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = MetaWorker(app[DEPS].layout.meta)
    app[META] = worker
    yield
    worker.close()


async def _fanout_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[FANOUT].run(), name="hive-web-fanout")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _pages_ctx(app: web.Application) -> AsyncIterator[None]:
    """The clients that reach agents' page sockets (one per socket)."""
    app[PAGES] = PageClients()
    yield
    await app[PAGES].close()


def create_app(deps: Deps) -> web.Application:
    """The dashboard app over ``deps`` (see ``hive_web.deps.Deps`` for what each field turns on)."""
    config = deps.config
    sessions = Sessions(deps.layout.root / SESSIONS_FILE, deps.guard.fingerprint)
    app = web.Application(
        middlewares=[error_middleware, security_middleware(deps.guard, sessions)],
        client_max_size=config.max_body_bytes,
    )
    app[DEPS], app[FANOUT], app[SESSIONS] = deps, Fanout(deps.feed), sessions
    app[AUTHOR] = Author.parse(config.author)
    app[STREAMS], app[HOOKS] = set(), HookState()
    app.cleanup_ctx.append(_meta_ctx)
    app.cleanup_ctx.append(_fanout_ctx)
    app.cleanup_ctx.append(_pages_ctx)
    app.cleanup_ctx.append(forge_ctx)
    app.on_shutdown.append(close_streams)
    for group in ROUTE_GROUPS:
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


def base_url(host: str, port: int) -> str:
    """How to open a dashboard bound to ``host:port`` from this machine (a wildcard bind: loopback)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (useful with port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the dashboard is not listening")
