"""Plugging the reconciler into the daemon's host core (`hive serve`).

Three adapters, so the loop itself knows only its own small protocols:
``EventLogSink`` publishes to ``hive_core.events.EventLog`` (the dashboard's
stream and the manager's inbox), ``CoreSockets`` asks the daemon's socket
set to open an agent's socket before the agent starts, and ``LoopControl``
is the ``hive_core.control.ReconcilerControl`` the admin and manager ops
and the dashboard call (reconcile now, restart, update, rebuild, status, purge). The
health gate uses the core's ``Harnesses`` registry directly: it already has
``wait_hello``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from desired.schema import RunState
from hive_core.core import HostCore
from hive_core.events import EventLog
from hive_core.sockets import SocketSet
from hive_kit.errors import ConflictError, NotFoundError, UserError
from reconciler.events import ReconcilerEvent
from reconciler.loop import Reconciler
from reconciler.model import ActionKind
from reconciler.readonly import dry_run
from reconciler.render import render_plan
from reconciler.runtime.base import MAX_LOG_LINES, LogScope, log_scope
from reconciler.status import read_statuses

log = logging.getLogger(__name__)


class EventLogSink:
    def __init__(self, events: EventLog) -> None:
        self.events = events

    def emit(self, event: ReconcilerEvent) -> None:
        self.events.publish(event)


class CoreSockets:
    """The daemon's sockets follow desired state; make sure they have caught up before a start."""

    def __init__(self, core: HostCore, sockets: SocketSet) -> None:
        self.core = core
        self.sockets = sockets

    async def open_agent(self, name: str, *, is_manager: bool) -> Path:
        if not is_manager:
            self.core.desired.current()
            await self.sockets.sync_agents()
        return self.core.layout.socket_for(name, is_manager=is_manager)

    async def close_agent(self, name: str) -> None:
        self.core.desired.current()
        await self.sockets.sync_agents()


class LoopControl:
    """``hive_core.control.ReconcilerControl`` over a running ``Reconciler``."""

    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec

    def request_reconcile(self, reason: str) -> None:
        log.info("reconcile now requested: %s", reason or "no reason given")
        self.rec.reconcile_now()

    def _check(self, name: str) -> None:
        spec = self.rec.repo.load().state.agents.get(name)
        if spec is None:
            raise NotFoundError(f"no agent named {name!r} in desired state")
        if spec.suspended:
            raise UserError(f"agent {name!r} is suspended; `hive resume {name}` first")
        if spec.state is RunState.STOPPED:
            raise UserError(f"agent {name!r} is stopped in desired state; set its state to running first")

    def _force(self, name: str, kind: ActionKind, reason: str) -> None:
        self._check(name)
        log.info("agent %s: %s", name, reason)
        if not self.rec.force(name, kind, reason):
            raise ConflictError(
                f"agent {name!r} is busy: an action for it is in progress; try again once `hive status` "
                "shows it Ready"
            )

    async def restart(self, name: str, by: str = "") -> str:
        self._force(name, ActionKind.RESTART, f"restart asked by {by}" if by else "restart asked for")
        return f"agent {name} is restarting (same build, /state kept); `hive status` shows when it is Ready"

    async def update(self, name: str) -> str:
        self._force(name, ActionKind.UPDATE, "update asked for")
        return f"agent {name} is being rebuilt from current desired state"

    async def rebuild(self, name: str, by: str = "") -> str:
        self._force(name, ActionKind.REPLACE, f"rebuild asked by {by}" if by else "rebuild asked for")
        return (
            f"agent {name} is being rebuilt: its container is destroyed and created again from current "
            "desired state, /state kept; `hive status` shows when it is Ready"
        )

    def status(self) -> Mapping[str, Any]:
        return {"agents": {s.name: s.to_json() for s in read_statuses(self.rec.store)}}

    async def plan_text(self) -> tuple[list[str], bool]:
        result = await dry_run(self.rec.layout, self.rec.runtime)
        return render_plan(result), not result.empty

    async def logs(self, name: str, lines: int) -> list[str]:
        runtime = self.rec.runtime
        scope = log_scope(LogScope.HARNESS.value, runtime.log_scopes, runtime.kind)
        return await asyncio.to_thread(runtime.logs, name, min(lines, MAX_LOG_LINES), scope)

    async def purge(self, name: str) -> Mapping[str, Any]:
        result = await self.rec.pass_once(purge=[name])
        action = result.for_agent(name)
        if action is None:
            raise NotFoundError(f"{name!r} has no kept state to purge (or is still in desired state)")
        return action.to_json()
