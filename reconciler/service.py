"""The reconciler as one component of the daemon: ``run(layout, ...)`` until cancelled.

`hive serve` calls ``run`` with the daemon's harness registry, socket
opener and event sink; ``python -m reconciler.service --state-dir DIR``
runs the loop alone (tests kill it with -9 mid-create to prove a restart
converges without duplicates). Each long-lived task is started by
``_spawn``, named, and logged when it ends; if one dies the others are
cancelled (kopf's aiotasks).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from hive_core.control import HarnessRegistry
from hive_kit.paths import StateLayout
from hive_kit.tasks import start_task
from reconciler.events import EventSink
from reconciler.health import AgentSockets
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.base import Runtime
from reconciler.runtime.registry import RUNTIMES, RuntimeOptions, make_runtime
from reconciler.triggers import now_file, watch

log = logging.getLogger(__name__)


def pid_file(layout: StateLayout) -> Path:
    return layout.run / "reconciler.pid"


def daemon_pid(layout: StateLayout) -> int | None:
    """The pid of the live process running the loop for this state dir, if any."""
    try:
        pid = int(pid_file(layout).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


async def run(
    layout: StateLayout,
    *,
    runtime: Runtime | None = None,
    options: RuntimeOptions | None = None,
    health: HarnessRegistry | None = None,
    sockets: AgentSockets | None = None,
    events: EventSink | None = None,
    settings: LoopSettings | None = None,
    started: asyncio.Future[Reconciler] | None = None,
) -> None:
    """Run the loop and its watcher until cancelled; ``started`` receives the Reconciler."""
    runtime = runtime or make_runtime(layout, options or RuntimeOptions())
    rec = Reconciler(layout, runtime, health=health, sockets=sockets, events=events, settings=settings)
    stop = asyncio.Event()
    now_file(layout).unlink(missing_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    pid_file(layout).write_text(f"{os.getpid()}\n")
    tasks = [
        start_task("reconciler-loop", rec.run()),
        start_task("reconciler-watch", watch(layout, rec.poke, rec.reconcile_now, stop)),
    ]
    if started is not None:
        started.set_result(rec)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
        await rec.close()
        rec.store.close()
        pid_file(layout).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reconciler.service", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--runtime", default="local", choices=RUNTIMES)
    parser.add_argument("--agent-command", default="", help="the agent program, shell-quoted")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--resync", type=float, default=30.0)
    parser.add_argument("--health-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    layout = StateLayout.resolve(args.state_dir)
    options = RuntimeOptions(args.runtime, tuple(shlex.split(args.agent_command)), not args.no_sandbox)
    settings = LoopSettings(resync=args.resync, health_timeout=args.health_timeout)
    try:
        asyncio.run(run(layout, options=options, settings=settings))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
