"""`hive-harness serve`: wire the stores, the loop and the agent page together and run until told to stop.

Two long-lived tasks (the turn loop, the page API on its unix socket, and in a pod
on TCP too: ``HIVE_PAGE_LISTEN``, token required) are started by one helper
that names them and logs how they end; if one dies, the other is cancelled
and the process exits non-zero so the runtime driver restarts it. SIGTERM and
SIGINT stop both, cancelling a running claude (SIGINT, then SIGKILL). The
persistent MCP server (`mcp_http.py`) is the loop's: started by its first
turn, stopped with it. The egress forwarder (`egress_forward.py`) starts
first when the runtime gave the agent an egress socket, and every claude
(so its Bash tool, git, pip and curl too) gets its HTTP(S)_PROXY. When the
runtime names a model socket (``$HIVE_MODEL_SOCKET``: the host's gateway
holds the key), the model forwarder starts too and claude's
``ANTHROPIC_BASE_URL`` and placeholder key point at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aiohttp import web

from hive_harness.command import mcp_config, mcp_server_env, mcp_transport, resolve_claude_bin
from hive_harness.egress_forward import EgressForwarder, ModelForwarder
from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.mcp_http import PersistentMcp
from hive_harness.prompts import load_system_prompt
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.stats import TurnStats
from hive_harness.web import make_app
from hive_kit import pagetoken
from hive_kit.client import HiveClient
from hive_kit.errors import UserError
from hive_kit.launch import (
    ENV_EGRESS,
    ENV_MODEL,
    ENV_PAGE,
    ENV_SOCKET,
    SANDBOX_EGRESS,
    SANDBOX_PAGE,
    SANDBOX_RUN,
    SANDBOX_SOCKET,
    AgentLaunchConfig,
)
from hive_kit.tasks import run_root_tasks

log = logging.getLogger(__name__)


def page_socket(env: Mapping[str, str], socket_path: str) -> Path:
    """Where to serve the page: ``$HIVE_PAGE_SOCKET``, else ``page/page.sock`` beside the host socket.

    In the sandbox that is ``/run/hive/page/page.sock`` (``SANDBOX_PAGE``); run
    without one, the host socket's directory is the agent's socket directory
    on the host, so the dashboard finds the page where ``StateLayout`` says.
    """
    beside = Path(socket_path).parent / PurePosixPath(SANDBOX_PAGE).relative_to(SANDBOX_RUN)
    return Path(env.get(ENV_PAGE) or beside)


@dataclass(frozen=True)
class PageSite:
    """The page API being served on ``path`` (whose inode was ``inode`` when it was bound; None: no
    socket, TCP only) and, with ``HIVE_PAGE_LISTEN``, on TCP."""

    runner: web.AppRunner
    path: Path
    inode: int | None

    async def close(self) -> None:
        """Close the page and remove its socket, unless a newer harness already replaced it."""
        await self.runner.cleanup()
        with contextlib.suppress(OSError):
            if self.inode is not None and self.path.stat().st_ino == self.inode:
                self.path.unlink()


@dataclass(frozen=True)
class PageListen:
    """``HIVE_PAGE_LISTEN`` and the file of the page token's digest (``hive_kit.pagetoken``)."""

    host: str
    port: int
    digest_file: Path


def page_listen(env: Mapping[str, str]) -> PageListen | None:
    """The TCP page a pod serves, or None (no ``HIVE_PAGE_LISTEN``); a bad setting is a UserError."""
    text = env.get(pagetoken.ENV_PAGE_LISTEN)
    if not text:
        return None
    try:
        host, port = pagetoken.parse_listen(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    digest = env.get(pagetoken.ENV_PAGE_TOKEN_DIGEST_FILE)
    if not digest:
        raise UserError(
            f"{pagetoken.ENV_PAGE_LISTEN} needs {pagetoken.ENV_PAGE_TOKEN_DIGEST_FILE}: the file of the "
            "page token's SHA-256; the page is not served on TCP without a token"
        )
    return PageListen(host, port, Path(digest))


async def start_site(harness: Harness, path: Path, listen: PageListen | None = None) -> PageSite | None:
    """The agent page API on the unix socket ``path`` (and on TCP with ``listen``); None (and a note)
    when it cannot be served at all.

    A stale socket left by an earlier harness is replaced. The directory is
    made (0700) if the runtime did not make it. The socket is 0660: whoever
    may enter the directory, the runtime decides. If the page cannot be
    served the agent keeps working without it: losing the page is better
    than a crash loop that also stops the agent's turns.
    """
    name = harness.rt.launch.name
    app = make_app(harness, listen.digest_file if listen is not None else None)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2)
    await runner.setup()
    inode: int | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        await web.UnixSite(runner, str(path)).start()
        path.chmod(0o660)
        inode = path.stat().st_ino
        log.info("%s: agent page API on unix socket %s", name, path)
    except OSError as exc:
        log.error("%s: agent page off: cannot serve %s (%s)", name, path, exc)
        harness.rt.note(f"agent page off: cannot serve {path} ({exc.strerror or exc})")
    tcp = False
    if listen is not None:
        try:
            await web.TCPSite(runner, listen.host, listen.port).start()
            tcp = True
            log.info("%s: agent page API on TCP %s:%d (page token required)", name, listen.host, listen.port)
        except OSError as exc:
            log.error("%s: agent page off on TCP %s:%d (%s)", name, listen.host, listen.port, exc)
            harness.rt.note(f"agent page off on TCP port {listen.port} ({exc.strerror or exc})")
    if inode is None and not tcp:
        await runner.cleanup()
        return None
    return PageSite(runner, path, inode)


async def start_egress(env: Mapping[str, str]) -> EgressForwarder | None:
    """The host's egress proxy on this sandbox's loopback, when the runtime gave the agent one
    (``$HIVE_EGRESS_SOCKET``, or ``/run/hive/egress.sock``). The socket may come later (a daemon
    that restarts): the forwarder connects per connection and says why when it is missing."""
    path = env.get(ENV_EGRESS) or (SANDBOX_EGRESS if Path(SANDBOX_EGRESS).exists() else None)
    if not path:
        return None
    forwarder = EgressForwarder(Path(path))
    await forwarder.start()
    return forwarder


async def start_model(env: Mapping[str, str]) -> ModelForwarder | None:
    """The host's model gateway on this sandbox's loopback, when the runtime named one."""
    path = env.get(ENV_MODEL)
    if not path:
        return None
    forwarder = ModelForwarder(Path(path))
    await forwarder.start()
    return forwarder


async def serve_forever(launch: AgentLaunchConfig, state_dir: Path, env: Mapping[str, str]) -> None:
    mcp_config(launch, mcp_server_env(env))  # refuse a bad config (an extra server keyed hyperhive) up front
    listen = page_listen(env)  # and a TCP page without its token
    egress = await start_egress(env)
    if egress is not None:
        env = {**env, **egress.env}
    model = await start_model(env)
    if model is not None:
        env = {**env, **model.env}
    paths = StatePaths(state_dir)
    bus = EventBus(paths.events_db)
    stats = TurnStats(paths.stats_db)
    socket_path = env.get(ENV_SOCKET) or SANDBOX_SOCKET
    mcp = PersistentMcp(launch, socket_path) if mcp_transport(env) == "http" else None
    client = HiveClient(socket_path)
    runtime = Runtime(launch, paths, bus)
    harness = Harness(
        runtime,
        client,
        stats,
        claude_bin=resolve_claude_bin(env),
        base_env=env,
        system_prompt=load_system_prompt(launch),
        mcp=mcp,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    site = await start_site(harness, page_socket(env, socket_path), listen)
    try:
        await harness.announce(0)  # hello's web_port stays on the wire for old hosts; 0: no TCP page
        ended = await run_root_tasks([(f"turn-loop-{launch.name}", harness.run_forever)], stop)
        failed = bool(ended)
    finally:
        await harness.close()
        bus.end_streams()
        if site is not None:
            await site.close()
        await client.aclose()
        for forwarder in (egress, model):
            if forwarder is not None:
                await forwarder.close()
        bus.close()
        stats.close()
    if failed:
        raise SystemExit(1)
