"""The dashboard as one component of `hive serve`.

``serve_dashboard`` is a root task of the daemon (``Daemon.add``): it builds
the app over the host core (its event log, its op handlers, its reconciler
control, its harness registry), subscribes the app's ``desired`` hints to the
core's one meta-repo watcher, serves until it is cancelled, then
unsubscribes and closes the site and every open stream. The operator's
writes to questions, messages and reminders go through the same handlers as
the admin socket (``hive_core.ops.perform`` with the operator as caller):
the same allow-list, and an answer only once the write is committed.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import BaseModel

from hive_core.core import OPERATOR_CALLER, HostCore
from hive_core.ops import perform
from hive_kit import wire
from hive_web.dashboard import bound_port, create_app, make_guard, start
from hive_web.deps import AgentPort, Deps
from hive_web.keys import FANOUT, WebConfig
from hive_web.operator import OperatorCall
from hive_web.readers.reconciler import ReconcilerLink
from hive_web.streams.fanout import desired_hints

log = logging.getLogger(__name__)


def operator_call(core: HostCore) -> OperatorCall:
    """Requests run as the operator by core's ``perform``: its allow-list, answered once committed."""

    async def call(request: wire.Request) -> BaseModel:
        response: BaseModel = await perform(core, OPERATOR_CALLER, request)
        return response

    return call


def announce(config: WebConfig, port: int, token: str, created: bool, token_path: str) -> None:
    """Say where the dashboard is; show the token once (when it was just created)."""
    url = f"http://{config.host}:{port}/"
    lines = [f"hive serve: dashboard on {url}"]
    if created:
        lines.append(f"hive serve: dashboard token (shown once; kept 0600 in {token_path}): {token}")
    elif config.host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(f"hive serve: the dashboard needs its token (in {token_path})")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def agent_port(core: HostCore) -> AgentPort:
    """The web port the agent's harness announced in its last hello (0 or none: no page)."""

    def lookup(name: str) -> int | None:
        hello = core.harnesses.last_hello(name)
        return hello.web_port if hello is not None and hello.web_port else None

    return lookup


def host_deps(core: HostCore, config: WebConfig, link: ReconcilerLink | None = None) -> tuple[Deps, bool]:
    """The dashboard's ``Deps`` over ``core``, and whether its token was created now."""
    guard, created = make_guard(core.layout, config)
    deps = Deps(
        layout=core.layout,
        feed=core.events,
        guard=guard,
        config=config,
        operator=operator_call(core),
        reconciler=link or ReconcilerLink(core.layout),
        control=core.require_reconciler,
        agent_port=agent_port(core),
        publish=core.events.publish,
    )
    return deps, created


async def serve_dashboard(core: HostCore, config: WebConfig, link: ReconcilerLink | None = None) -> None:
    """Serve the dashboard until cancelled (the daemon's shutdown).

    ``link`` is the daemon's read-only view of the reconciler; the daemon
    calls ``link.attach(runtime)`` once the reconciler runs, and the Plan
    section and logs light up. Restart, rebuild and purge go through
    ``core.require_reconciler()`` and answer 503 until then.
    """
    deps, created = host_deps(core, config, link)
    app = create_app(deps)
    unsubscribe = core.metawatch.subscribe("web", desired_hints(app[FANOUT]))
    try:
        runner = await start(app, config)
        try:
            announce(
                config, bound_port(runner), deps.guard.token, created, str(core.layout.root / "web-token")
            )
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
    finally:
        unsubscribe()
