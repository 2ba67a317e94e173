"""`hive serve`: run the daemon in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
from typing import TYPE_CHECKING

import typer

from hive.cli.common import StateDirOpt, layout
from hive.cli.reconcile import CommandOpt, RuntimeOpt
from hive_core.paths import StateLayout

if TYPE_CHECKING:
    from reconciler.service import RuntimeOptions


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    state_dir: StateDirOpt = None,
    runtime: RuntimeOpt = "local",
    agent_command: CommandOpt = None,
) -> None:
    """Run the hive daemon: stores, sockets, schedulers, the reconciler (and the dashboard when present)."""
    if "HIVE_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.INFO)
    from reconciler.service import RuntimeOptions

    options = RuntimeOptions(runtime, tuple(shlex.split(agent_command or "")))
    asyncio.run(_serve(layout(state_dir), options))


async def _serve(where: StateLayout, options: RuntimeOptions) -> None:
    from hive.daemon import Daemon, add_reconciler

    daemon = Daemon(where)
    add_reconciler(daemon, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop.set)
    await daemon.run()
