"""`hive serve`: run the daemon in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import typer

from hive.cli.common import StateDirOpt, layout
from hive_core.paths import StateLayout


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(state_dir: StateDirOpt = None) -> None:
    """Run the hive daemon: stores, sockets, schedulers (and the reconciler and dashboard when present)."""
    if "HIVE_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.INFO)
    asyncio.run(_serve(layout(state_dir)))


async def _serve(where: StateLayout) -> None:
    from hive.daemon import Daemon

    daemon = Daemon(where)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop.set)
    await daemon.run()
