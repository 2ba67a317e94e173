"""Everything the dashboard is handed by whoever runs it, as one typed, frozen record.

`hive serve` (``hive_web.component``) fills every field from the host core;
``python -m hive_web``, the tests and the bench fill what they have. A field
left ``None`` turns its section off with a 503 that says why (no host core:
no questions or messages; no reconciler: no plan, logs, restart or purge),
never with a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hive_core.control import ReconcilerControl
from hive_core.events import Event
from hive_core.logins import LoginCodes
from hive_kit.paths import StateLayout
from hive_web.feed import EventFeed
from hive_web.keys import WebConfig
from hive_web.operator import OperatorCall
from hive_web.readers.reconciler import ReconcilerLink
from hive_web.security import Guard
from reconciler.runtime.kubernetes_page import PagePod

if TYPE_CHECKING:
    from hive_web.forge_checks import ForgeLink  # which imports the app's keys, which name Deps

Control = Callable[[], ReconcilerControl]
"""The host core's reconciler control (``HostCore.require_reconciler``): restart, rebuild, purge.
Raises ``UnavailableError`` while the reconciler is not running."""
AgentPage = Callable[[str], "Path | PagePod | None"]
"""The host end of an agent's page socket (``StateLayout.page_socket_for``), or its pod (reached
through the API server's proxy with its page token), while its harness is up (it said hello), or
None while it has no page."""
Publish = Callable[[Event], int]
"""Publish one event on the host's event log (``HostCore.events.publish``); returns its seq."""


@dataclass(frozen=True, kw_only=True)
class Deps:
    """What ``create_app`` serves: the state dir, the host's event log, the guard, and the host's hooks."""

    layout: StateLayout
    feed: EventFeed
    guard: Guard
    config: WebConfig = field(default_factory=WebConfig)
    operator: OperatorCall | None = None
    """Host-core ops run as the operator: questions, messages, reminders, reconcile now."""
    reconciler: ReconcilerLink | None = None
    """Reads from the reconciler: recorded status, the dry-run plan, log tails."""
    control: Control | None = None
    """Asks of the reconciler, through the host core: restart, rebuild, purge."""
    agent_page: AgentPage | None = None
    """Where each agent's harness serves its page API (``/agents/<name>/`` forwards to it)."""
    logins: LoginCodes = field(default_factory=LoginCodes)
    """One-time login links: the host core's (`hive dashboard url` mints them), or a private set."""
    publish: Publish | None = None
    """The dashboard's own events (webhook deliveries) onto the host's log."""
    forge: ForgeLink | None = None
    """The daemon's forge outbox and sender (``hive_web.forge_component``): the webhook queues into
    it. None: the app opens its own and sends only if no other process does."""
