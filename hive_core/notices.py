"""Which events also become a system message in the manager's (or operator's) inbox, and the text.

Pure: ``manager_notice(event)`` returns the message body or None. The core
installs ``NoticeSink`` as an EventLog sink, so a notice is written right
after its event, by the same process, with no queue in between to lose it.
Question answers are not here: they go to whoever asked (``ops.asking``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hive_core.events import (
    AgentDestroyed,
    AgentRebuilt,
    AgentSpawned,
    AgentStarted,
    AgentStopped,
    ContainerCrash,
    DeployFailed,
    Event,
    LoggedIn,
    NeedsLogin,
    ProposalResolved,
)
from hive_core.stores.broker import Broker
from hive_kit.names import OPERATOR

log = logging.getLogger(__name__)


def manager_notice(event: Event) -> str | None:
    if isinstance(event, ProposalResolved):
        note = f" — {event.note}" if event.note else ""
        what = f"proposal #{event.id} ({event.description})"
        return f"[approval_resolved] {what} was {event.status} by {event.by}{note}"
    if isinstance(event, AgentSpawned):
        return f"[spawned] agent {event.agent} is up (revision {event.revision[:12] or '?'})"
    if isinstance(event, AgentRebuilt):
        return f"[rebuilt] agent {event.agent} was rebuilt (revision {event.revision[:12] or '?'})"
    if isinstance(event, AgentStarted):
        return f"[started] agent {event.agent} is running"
    if isinstance(event, AgentStopped):
        return f"[stopped] agent {event.agent} is stopped"
    if isinstance(event, AgentDestroyed):
        kept = "its state was purged" if event.purged else "its state dir is kept"
        return f"[destroyed] agent {event.agent} was destroyed; {kept}"
    if isinstance(event, ContainerCrash):
        return f"[container_crash] agent {event.agent} crashed: {event.detail or 'no detail'}"
    if isinstance(event, DeployFailed):
        return f"[deploy_failed] agent {event.agent} at {event.revision[:12]}: {event.error}"
    if isinstance(event, NeedsLogin):
        return f"[needs_login] agent {event.agent} needs the operator to log it in to Claude"
    if isinstance(event, LoggedIn):
        return f"[logged_in] agent {event.agent} is logged in again"
    return None


def operator_notice(event: Event) -> str | None:
    if isinstance(event, NeedsLogin):
        return f"[needs_login] {event.agent} needs you to log it in (open its page and run the login)"
    if isinstance(event, ContainerCrash):
        return f"[container_crash] {event.agent} crashed: {event.detail or 'no detail'}"
    return None


QUIET_KINDS = frozenset({"message_sent", "message_delivered"})
"""Event kinds that never make a notice: the sink is not even called for them (the broker's hot path)."""


class NoticeSink:
    """EventLog sink: writes notices into inboxes as messages from ``system``."""

    def __init__(self, broker: Broker, manager_name: Callable[[], str | None]) -> None:
        self._broker = broker
        self._manager_name = manager_name

    def __call__(self, event: Event) -> None:
        text = manager_notice(event)
        if text is not None:
            manager = self._manager_name()
            if manager is not None:
                self._broker.system(manager, text)
            else:
                log.info("no manager in desired state to tell: %s", text)
        for_operator = operator_notice(event)
        if for_operator is not None:
            self._broker.system(OPERATOR, for_operator)
