"""`hive-harness serve`: wire the stores, the loop and the agent page together and run until told to stop.

Two long-lived tasks (the turn loop, the web site) are started by one helper
that names them and logs how they end; if one dies, the other is cancelled
and the process exits non-zero so the runtime driver restarts it. SIGTERM and
SIGINT stop both, cancelling a running claude (SIGINT, then SIGKILL). The
persistent MCP server (`mcp_http.py`) is the loop's: started by its first
turn, stopped with it. The egress forwarder (`egress_forward.py`) starts
first when the runtime gave the agent an egress socket, and every claude
(so its Bash tool, git, pip and curl too) gets its HTTP(S)_PROXY.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from hive_harness.command import mcp_config, mcp_server_env, mcp_transport, resolve_claude_bin
from hive_harness.egress_forward import EgressForwarder
from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.mcp_http import PersistentMcp
from hive_harness.prompts import load_system_prompt
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.stats import TurnStats
from hive_harness.web import make_app
from hive_kit.client import HiveClient
from hive_kit.launch import ENV_EGRESS, ENV_SOCKET, SANDBOX_EGRESS, SANDBOX_SOCKET, AgentLaunchConfig
from hive_kit.tasks import run_root_tasks

log = logging.getLogger(__name__)


async def start_site(harness: Harness, port: int, *, attempts: int = 8) -> web.AppRunner | None:
    """The agent page on 127.0.0.1:port; None when there is no port or it stays taken.

    A restart can race the previous harness for the port, so a taken port is retried with
    backoff (~10 s). If it stays taken the agent keeps working without its page: losing the
    page is better than a crash loop that also stops the agent's turns.
    """
    name = harness.rt.launch.name
    if not port:
        log.info("%s: no web_port in the launch config; the agent page is off", name)
        return None
    runner = web.AppRunner(
        make_app(harness, port), access_log=None, handler_cancellation=True, shutdown_timeout=2
    )
    await runner.setup()
    delay = 0.25
    for attempt in range(1, attempts + 1):
        try:
            await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
        except OSError as exc:
            if attempt == attempts:
                log.error("%s: agent page off: port %d stays taken (%s)", name, port, exc)
                harness.rt.note(f"agent page off: 127.0.0.1:{port} is taken by another process")
                await runner.cleanup()
                return None
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)
            continue
        log.info("%s: agent page API on http://127.0.0.1:%d/api/", name, port)
        return runner
    return None


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


async def serve_forever(launch: AgentLaunchConfig, state_dir: Path, env: Mapping[str, str]) -> None:
    mcp_config(launch, mcp_server_env(env))  # refuse a bad config (an extra server keyed hyperhive) up front
    egress = await start_egress(env)
    if egress is not None:
        env = {**env, **egress.env}
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
    runner = await start_site(harness, launch.web_port)
    try:
        await harness.announce(launch.web_port)
        ended = await run_root_tasks([(f"turn-loop-{launch.name}", harness.run_forever)], stop)
        failed = bool(ended)
    finally:
        await harness.close()
        bus.end_streams()
        if runner is not None:
            await runner.cleanup()
        await client.aclose()
        if egress is not None:
            await egress.close()
        bus.close()
        stats.close()
    if failed:
        raise SystemExit(1)
