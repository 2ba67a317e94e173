"""The reconciler as one component of the daemon: ``run(layout, ...)`` until cancelled.

`hive serve` calls ``run`` with the daemon's harness registry, socket
opener, event sink and meta watch (``HostCore.metawatch``, the one watcher on
the meta repo: the loop subscribes to it and is poked when a ref moves).
``python -m reconciler.service --state-dir DIR`` runs the loop alone with a
``MetaWatch`` of its own (tests kill it with -9 mid-create to prove a restart
converges without duplicates). Each long-lived task is started by
``start_task``, named, and logged when it ends; if one dies the others are
cancelled (kopf's aiotasks).

"Reconcile now" has one way in: the admin socket's ``reconcile_now`` op
(``hive_core.ops.admin`` → ``reconciler.host.LoopControl``). The pid file
says which process runs the loop, so `hive reconcile` and `hive purge` ask
it instead of acting beside it.
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
from hive_core.metawatch import MetaWatch
from hive_kit.paths import StateLayout
from hive_kit.tasks import start_task
from reconciler.events import EventSink
from reconciler.health import AgentSockets
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.base import Runtime
from reconciler.runtime.registry import RUNTIMES, RuntimeOptions, make_runtime

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
    watch: MetaWatch | None = None,
    started: asyncio.Future[Reconciler] | None = None,
) -> None:
    """Run the loop until cancelled; ``started`` receives the Reconciler.

    With ``watch`` (the daemon's) the loop subscribes to it; without, it runs
    a watcher of its own for as long as the loop runs.
    """
    runtime = runtime or make_runtime(layout, options or RuntimeOptions())
    rec = Reconciler(layout, runtime, health=health, sockets=sockets, events=events, settings=settings)
    stop = asyncio.Event()
    layout.run.mkdir(parents=True, exist_ok=True)
    pid_file(layout).write_text(f"{os.getpid()}\n")
    tasks = [start_task("reconciler-loop", rec.run())]
    if watch is None:
        watch = MetaWatch(layout.meta)
        watch.check()  # the baseline: from here on every move pokes the loop
        tasks.append(start_task("reconciler-meta-watch", watch.run(stop)))
    unsubscribe = watch.subscribe("reconciler", lambda _moved: rec.poke())
    if started is not None:
        started.set_result(rec)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        unsubscribe()
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
