"""The dashboard as one component of `hive serve`.

``serve_dashboard`` is a root task of the daemon (``Daemon.add``): it builds
the app over the host core (its event log, its op handlers, its reconciler
control, its harness registry, its login codes), subscribes the app's ``desired`` hints to the
core's one meta-repo watcher, tells the login codes where it is served (so
`hive dashboard url` can mint links), serves until it is cancelled, then
unsubscribes and closes the site and every open stream. The operator's
writes to questions, messages and reminders go through the same handlers as
the admin socket (``hive_core.ops.perform`` with the operator as caller):
the same allow-list, and an answer only once the write is committed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from hive_core.core import OPERATOR_CALLER, HostCore
from hive_core.ops import perform
from hive_kit import wire
from hive_web.dashboard import base_url, bound_port, create_app, make_guard, start
from hive_web.deps import AgentPage, Deps
from hive_web.forge_checks import ForgeLink
from hive_web.keys import FANOUT, WebConfig
from hive_web.operator import OperatorCall
from hive_web.readers.reconciler import ReconcilerLink
from hive_web.security import TOKEN_FILE
from hive_web.streams.fanout import desired_hints
from reconciler.runtime.kubernetes_page import PagePod

log = logging.getLogger(__name__)


def operator_call(core: HostCore) -> OperatorCall:
    """Requests run as the operator by core's ``perform``: its allow-list, answered once committed."""

    async def call(request: wire.Request) -> BaseModel:
        response: BaseModel = await perform(core, OPERATOR_CALLER, request)
        return response

    return call


def announce(url: str, login: str, created: bool, token_path: str) -> None:
    """Say where the dashboard is and how to log in; never print the token itself."""
    lines = [
        f"hive serve: dashboard on {url}/",
        f"hive serve: log in: {login}  (works once, for 5 minutes; `hive dashboard url` prints another)",
    ]
    if created:
        lines.append(f"hive serve: dashboard token created in {token_path} (0600; for scripts: Bearer)")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def agent_page(core: HostCore, link: ReconcilerLink | None = None) -> AgentPage:
    """Where the agent's page is, once its harness said hello (none: no page): its pod, when the
    running runtime serves pages in pods (``KubernetesRuntime.page_pod``), else the host end of
    its page socket."""

    def lookup(name: str) -> Path | PagePod | None:
        if core.harnesses.last_hello(name) is None:
            return None
        pods: Callable[[str], PagePod | None] | None = (
            getattr(link.runtime, "page_pod", None) if link is not None and link.live else None
        )
        pod = pods(name) if pods is not None else None
        if pod is not None:
            return pod
        return core.layout.page_socket_for(name, is_manager=name == core.desired.manager_name())

    return lookup


def host_deps(
    core: HostCore, config: WebConfig, link: ReconcilerLink | None = None, forge: ForgeLink | None = None
) -> tuple[Deps, bool]:
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
        agent_page=agent_page(core, link),
        logins=core.login_codes,
        publish=core.events.publish,
        forge=forge,
    )
    return deps, created


async def serve_dashboard(
    core: HostCore, config: WebConfig, link: ReconcilerLink | None = None, forge: ForgeLink | None = None
) -> None:
    """Serve the dashboard until cancelled (the daemon's shutdown).

    ``link`` is the daemon's read-only view of the reconciler; the daemon
    calls ``link.attach(runtime)`` once the reconciler runs, and the Plan
    section and logs light up. Restart, rebuild and purge go through
    ``core.require_reconciler()`` and answer 503 until then. ``forge`` is the
    daemon's forge outbox (``hive_web.forge_component``): the webhook queues
    into it and the daemon's forge component sends.
    """
    deps, created = host_deps(core, config, link, forge)
    app = create_app(deps)
    unsubscribe = core.metawatch.subscribe("web", desired_hints(app[FANOUT]))
    try:
        runner = await start(app, config)
        try:
            url = base_url(config.host, bound_port(runner))
            core.login_codes.serving(url)
            announce(url, core.login_codes.issue().url, created, str(core.layout.root / TOKEN_FILE))
            await asyncio.Event().wait()
        finally:
            core.login_codes.serving(None)
            await runner.cleanup()
    finally:
        unsubscribe()
