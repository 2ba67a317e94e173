"""`hive serve`: one asyncio process that wires the host together.

The daemon is a list of named components started through one helper
(``hive_kit.tasks.run_root_tasks``): if any of them ends, the others are
cancelled and the process exits, so nothing runs half-alive. The forge
component (Forgejo's outbox sender and watches, ``hive_web.forge_component``)
is always one, idle while no forge is connected. The reconciler
and the dashboard join with ``Daemon.add(name, factory)`` before ``run``;
``add_reconciler`` does that for the reconciler and plugs its control into
``daemon.core.attach_reconciler``.

Order matters on start: the store is opened and unacked deliveries are
requeued (``HostCore.startup``) before any socket accepts a connection, and
the deadline loop's first pass catches up on what fell due while down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
import time
from collections.abc import Callable
from typing import IO

from hive_core.core import HostCore
from hive_core.identities import UidRange
from hive_core.pidlock import holder_pid
from hive_core.schedulers import deadlines_loop, meta_follow_loop, retention_loop
from hive_core.sockets import SocketSet
from hive_core.stores.checkpoint import checkpoint_loop
from hive_core.tls_broker import BrokerSettings, TlsBroker
from hive_kit.errors import HiveError, PermanentError, UserError
from hive_kit.paths import StateLayout
from hive_kit.tasks import TaskFactory, run_root_tasks
from hive_web.component import serve_dashboard
from hive_web.forge_component import ForgeComponent
from hive_web.keys import WebConfig
from hive_web.readers.reconciler import ReconcilerLink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ContainerState
from reconciler.runtime.base import Runtime
from reconciler.runtime.registry import RuntimeOptions

log = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self,
        layout: StateLayout,
        *,
        clock: Callable[[], float] = time.time,
        web: WebConfig | None = None,
        uid_range: UidRange | None = None,
        broker: BrokerSettings | None = None,
    ) -> None:
        self.layout = layout
        self._lock = _lock_state_dir(layout)
        self.core = HostCore(layout, clock=clock, uid_range=uid_range)
        self.sockets = SocketSet(self.core)
        self.broker = None if broker is None else TlsBroker(self.core, broker)
        """The TLS listener for agents in pods (``hive serve --broker-listen``), if asked for."""
        self.stop = asyncio.Event()
        self.components: list[tuple[str, TaskFactory]] = [
            ("deadlines", lambda: deadlines_loop(self.core)),
            ("retention", lambda: retention_loop(self.core)),
            ("meta-refs", lambda: self.core.metawatch.run(self.stop)),
            ("meta-follow", lambda: meta_follow_loop(self.core, self.sockets)),
            ("wal-checkpoint", lambda: checkpoint_loop(layout.db, self.core.checkpoint_now)),
        ]
        self.web_link = ReconcilerLink(layout)
        """The dashboard's read-only view of the reconciler; ``web_link.attach(runtime)`` once it runs."""
        self.runtime: Runtime | None = None
        """The reconciler's runtime, once it runs (``add_reconciler``)."""
        self.left_running: list[str] = []
        """Agents still running when the daemon stopped: they outlive it, and the next start adopts them."""
        self.forge = ForgeComponent(
            layout,
            self.core.events,
            self.core.events.publish,
            self.web_link,
            on_refs=self.core.metawatch.subscribe,
            webhooks=web is not None,
        )
        """Forgejo's outbox sender and watches (idle while no forge is connected), with or without web."""
        self.add("forge", self.forge.run)
        if web is not None:
            self.add("web", lambda: serve_dashboard(self.core, web, self.web_link, self.forge.link()))

    def add(self, name: str, factory: TaskFactory) -> None:
        """Add a component (the reconciler loop, the web app) to start with the daemon."""
        self.components.append((name, factory))

    async def run(self) -> None:
        self.core.startup()
        if self.broker is not None:  # before the sockets: a bad setting stops us with nothing to undo
            await self.broker.start()
            self.sockets.after_sync.append(self.broker.drop_stale)
        await self.sockets.start()
        log.info(
            "hive serve: listening on %s (admin), %s (manager) and %d agent sockets",
            self.layout.admin_socket,
            self.layout.manager_socket,
            len(self.sockets.agents),
        )
        ended = await run_root_tasks(self.components, self.stop, on_exit=self._shutdown)
        if ended:
            raise PermanentError(
                "hive serve stopped because a component ended: "
                + "; ".join(ended)
                + " (details in the log above)"
            )

    async def _shutdown(self) -> None:
        self.left_running = await self._still_running()
        if self.broker is not None:
            await self.broker.close()
        await self.sockets.close()
        self.forge.close()
        self.core.close()
        self._lock.close()
        log.info("hive serve: stopped")

    async def _still_running(self) -> list[str]:
        if self.runtime is None:
            return []
        try:
            observed = await asyncio.wait_for(self.runtime.list(), 10)
        except (HiveError, OSError, TimeoutError) as exc:
            log.warning("hive serve: cannot list the agents left running: %s", exc)
            return []
        return sorted(name for name, o in observed.items() if o.state is ContainerState.RUNNING)


def add_reconciler(daemon: Daemon, options: RuntimeOptions, settings: LoopSettings | None = None) -> None:
    """The reconciler loop as one more component, wired to the core's hellos, sockets, events and
    meta watch (the reconciler subscribes to it rather than watching the repo a second time)."""
    from reconciler import service
    from reconciler.host import CoreSockets, EventLogSink

    # one allocation of agents' uids: the sockets' groups and the sandboxes' uids agree
    options = dataclasses.replace(options, identities=daemon.core.identities)

    async def run() -> None:
        started: asyncio.Future[Reconciler] = asyncio.get_running_loop().create_future()
        started.add_done_callback(lambda f: _attach(daemon, f.result()))
        try:
            await service.run(
                daemon.layout,
                options=options,
                settings=settings,
                health=daemon.core.harnesses,
                sockets=CoreSockets(daemon.core, daemon.sockets),
                events=EventLogSink(daemon.core.events),
                watch=daemon.core.metawatch,
                started=started,
            )
        finally:
            daemon.core.attach_reconciler(None)

    daemon.add("reconciler", run)


def _attach(daemon: Daemon, loop: Reconciler) -> None:
    from reconciler.host import LoopControl

    daemon.core.attach_reconciler(LoopControl(loop))
    daemon.web_link.attach(loop.runtime)
    daemon.runtime = loop.runtime


def serve_pid(layout: StateLayout) -> int | None:
    """The pid of the `hive serve` holding this state dir's lock, or None if none runs (0: unknown pid)."""
    return holder_pid(layout.run / "hive.lock")


def _lock_state_dir(layout: StateLayout) -> IO[str]:
    layout.run.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = layout.run / "hive.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "?"
        handle.close()
        raise UserError(
            f"another `hive serve` (pid {other}) is running on {layout.root}; stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
