"""`hive serve`: run the daemon in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hive.cli.common import StateDirOpt, layout, no_state_dir
from hive.cli.reconcile import CommandOpt, RuntimeOpt
from hive_core.identities import DEFAULT_UIDS, UidRange
from hive_kit.errors import UserError
from hive_kit.paths import StateLayout

if TYPE_CHECKING:
    from hive_core.tls_broker import BrokerSettings
    from hive_web.keys import WebConfig
    from reconciler.runtime.registry import RuntimeOptions


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
    web_host: Annotated[
        str,
        typer.Option(
            envvar="HIVE_WEB_HOST", help="Dashboard address (every bind needs a login: `hive dashboard url`)."
        ),
    ] = "127.0.0.1",
    web_port: Annotated[
        int, typer.Option(envvar="HIVE_WEB_PORT", help="Dashboard port (0: any free port).", min=0, max=65535)
    ] = 7000,
    no_web: Annotated[bool, typer.Option("--no-web", help="Run without the dashboard.")] = False,
    no_reconcile: Annotated[
        bool,
        typer.Option(
            "--no-reconcile",
            help="Run without the reconciler (messaging and dashboard only; nothing is started or stopped).",
        ),
    ] = False,
    agent_uids: Annotated[
        str,
        typer.Option(
            envvar="HIVE_AGENT_UIDS",
            help="Host uids (and gids) given to agents, one each, as FIRST-LAST.",
        ),
    ] = DEFAULT_UIDS,
    broker_listen: Annotated[
        str | None,
        typer.Option(
            envvar="HIVE_BROKER_LISTEN",
            help="Also serve the broker over TLS on HOST:PORT, for agents in pods (docs/kubernetes.md); "
            "each connection must show its pod's ServiceAccount token. Default: off.",
        ),
    ] = None,
    broker_san: Annotated[
        list[str] | None,
        typer.Option(
            envvar="HIVE_BROKER_SANS",
            help="A name or IP address pods use to reach the TLS broker (repeat, or comma-separated); "
            "it goes in the certificate made in STATE/broker-tls/, and the first one in the URL pods "
            "are given (default: the listen host).",
        ),
    ] = None,
    broker_cert: Annotated[
        Path | None, typer.Option(envvar="HIVE_BROKER_CERT", help="Your own broker certificate (PEM).")
    ] = None,
    broker_key: Annotated[
        Path | None, typer.Option(envvar="HIVE_BROKER_KEY", help="Its private key (PEM).")
    ] = None,
    insecure_sandbox: Annotated[
        bool,
        typer.Option(
            "--insecure-sandbox",
            help="If this host cannot sandbox agents (not root, no bwrap/setpriv, no namespaces), run them "
            "UNSANDBOXED instead of refusing: they can then read the host's files and reach its ports.",
        ),
    ] = False,
) -> None:
    """Run the hive daemon: stores, sockets, schedulers, the reconciler and the dashboard."""
    if "HIVE_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.INFO)
    from hive_web.keys import WebConfig
    from reconciler.runtime.registry import RuntimeOptions

    uid_range = UidRange.parse(agent_uids)
    options = RuntimeOptions(
        runtime, tuple(shlex.split(agent_command or "")), insecure=insecure_sandbox, uid_range=uid_range
    )
    web = None if no_web else WebConfig(host=web_host, port=web_port)
    where = layout(state_dir)
    if not where.meta.exists():
        raise no_state_dir(where)
    broker = None
    if broker_listen:
        from hive_core.tls_broker import BrokerSettings
        from reconciler.runtime.kubernetes import namespace_from_env

        broker = BrokerSettings.parse(
            broker_listen,
            broker_san or [],
            broker_cert,
            broker_key,
            # the runtime's own namespace (HIVE_KUBE_NAMESPACE, else hive.json's): the tokens of
            # the agents it places there are the ones accepted
            namespace=namespace_from_env(layout=where),
            kubeconfig=os.environ.get("KUBECONFIG") or None,
        )
    publish_broker(where, broker, None if no_reconcile else runtime)
    left = asyncio.run(_serve(where, None if no_reconcile else options, web, uid_range, broker))
    if left:
        typer.echo(left_running_note(left), err=True)


def publish_broker(where: StateLayout, broker: BrokerSettings | None, runtime: str | None) -> None:
    """Make the broker's certificate and record what pods are told (``hive_core.broker_pods``), before
    the runtime is built; with the kubernetes runtime, check now that pods could be told enough, and
    record the namespace it places agents in (``kubernetes_namespace``)."""
    from hive_core import broker_pods

    told = broker_pods.publish(where.root, broker)
    if runtime != "kubernetes":
        return
    from reconciler.runtime.kubernetes import settings_from_env
    from reconciler.runtime.kubernetes_namespace import record_placed

    settings = settings_from_env(layout=where)  # a missing CA for --broker-cert is one line, here
    record_placed(where, settings.namespace)  # so commands in other shells can say where agents are
    if broker is not None and told is not None and told.url is None and not settings.host_socket:
        listen = f"{broker.host}:{broker.port}"
        fix = (
            "picks its port only when it listens; give a fixed port"
            if broker.port == 0
            else "is a wildcard address; add --broker-san NAME (this host as pods reach it)"
        )
        raise UserError(
            f"pods cannot be told where the TLS broker is: --broker-listen {listen} {fix}, "
            "or set HIVE_KUBE_BROKER_URL"
        )


def left_running_note(names: list[str]) -> str:
    """What `hive serve` says on stop: agents outlive the daemon, like containers outlive dockerd."""
    one = len(names) == 1
    them = "it" if one else "them"
    return (
        f"{len(names)} agent{'' if one else 's'} keep{'s' if one else ''} running ({', '.join(names)}); "
        f"`hive serve` adopts {them} on start; `hive stop --all` stops {them}"
    )


async def _serve(
    where: StateLayout,
    options: RuntimeOptions | None,
    web: WebConfig | None,
    uid_range: UidRange,
    broker: BrokerSettings | None = None,
) -> list[str]:
    """Run the daemon until a signal; the agents it leaves running."""
    from hive.daemon import Daemon, add_reconciler

    daemon = Daemon(where, web=web, uid_range=uid_range, broker=broker)
    if options is not None:
        add_reconciler(daemon, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop.set)
    await daemon.run()
    return daemon.left_running
