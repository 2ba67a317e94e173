"""Which events also become a system message in the manager's (or operator's) inbox, and the text.

Pure: ``manager_notice(event)`` returns the message body or None. The core
installs ``NoticeSink`` as an EventLog sink, so a notice is written right
after its event, by the same process, with no queue in between to lose it.
Question answers are not here: they go to whoever asked (``ops.asking``).

An agent decides how often it is refused egress, so those notices are
throttled before they become events at all (``DenialThrottle``): a looping
agent fills the egress log, never the inboxes or the event log.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import deque
from collections.abc import Callable

from hive_core.events import (
    AgentDestroyed,
    AgentRebuilt,
    AgentSpawned,
    AgentStarted,
    AgentStopped,
    BudgetPaused,
    BudgetResumed,
    ContainerCrash,
    DeployFailed,
    EgressDenied,
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
    if isinstance(event, BudgetPaused | BudgetResumed):
        return _budget_notice(event)
    if isinstance(event, EgressDenied):
        hint = f". If it needs that host, propose adding '{_target(event)}' to its egress list"
        return (
            f"[egress_denied] agent {event.agent} was refused {_target(event)}: {event.reason}"
            f"{_repeats(event)}{hint if _named(event) else ''}"
        )
    return None


def _budget_notice(event: BudgetPaused | BudgetResumed) -> str:
    if isinstance(event, BudgetResumed):
        return f"[budget_resumed] agent {event.agent} runs again: {event.how}"
    return (
        f"[budget_paused] agent {event.agent} gets no turns: {event.reason}. The operator was asked "
        "whether to raise its budget, resume it for today or keep it paused"
    )


def _named(event: EgressDenied) -> bool:
    return not event.host.startswith(NOT_A_HOST)


def _target(event: EgressDenied) -> str:
    if not _named(event):
        return f"{event.host} port {event.port}"
    host = f"[{event.host}]" if ":" in event.host else event.host
    return f"{host}:{event.port}"


def _repeats(event: EgressDenied) -> str:
    return f" ({event.repeats} more attempts since the last notice)" if event.repeats else ""


def operator_notice(event: Event) -> str | None:
    if isinstance(event, NeedsLogin):
        return f"[needs_login] {event.agent} needs you to log it in (open its page and run the login)"
    if isinstance(event, ContainerCrash):
        return f"[container_crash] {event.agent} crashed: {event.detail or 'no detail'}"
    if isinstance(event, EgressDenied):
        hint = f"; to allow it, add '{_target(event)}' to the egress list of agents/{event.agent}.json"
        return (
            f"[egress_denied] {event.agent} was refused {_target(event)}: {event.reason}{_repeats(event)}. "
            f"`hive egress {event.agent}` shows its connections{hint if _named(event) else ''}"
        )
    return None


_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9*_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)
MAX_REASON = 300
NOT_A_HOST = "(not a host name: "


def printable(text: str, limit: int) -> str:
    """``text`` with control characters escaped (no terminal escapes reach a CLI), cut at ``limit``."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: limit * 2])
    return out if len(out) <= limit else out[: limit - 1] + "…"


def shown_host(host: str) -> str:
    """The host an agent asked for, safe to put in a notice: the agent wrote it, so it may be anything
    (a prompt for the manager, terminal escapes); anything but a host name or IP address is quoted."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _HOST.fullmatch(host):
        return host
    return f"{NOT_A_HOST}{printable(repr(host), 80)})"


def denial_event(agent: str, host: str, port: int, reason: str, repeats: int) -> EgressDenied:
    """The event for a refused attempt, with the agent's own text made safe to show (``shown_host``)."""
    shown = shown_host(host)
    if host and shown != host:
        reason = reason.replace(host, shown)
    return EgressDenied(
        agent=agent, host=shown, port=port, reason=printable(reason, MAX_REASON), repeats=repeats
    )


class DenialThrottle:
    """Which refused egress attempts become an ``EgressDenied`` event: the rest only reach the log.

    At most one event per agent and host:port per ``window`` seconds (repeats are
    counted into the next one), and at most ``per_agent`` per agent per window
    whatever the hosts, so an agent scanning many hosts cannot flood either.
    Memory stays bounded: once many keys are kept, those whose window has passed
    are dropped with the attempts they had folded.
    """

    def __init__(self, window: float = 60.0, per_agent: int = 10) -> None:
        self.window = window
        self.per_agent = per_agent
        self._last: dict[tuple[str, str, int], float] = {}
        self._folded: dict[tuple[str, str, int], int] = {}
        self._recent: dict[str, deque[float]] = {}

    def admit(self, agent: str, host: str, port: int, now: float) -> int | None:
        """None: fold this attempt away; else publish, with this many earlier attempts folded into it."""
        key = (agent, host, port)
        last = self._last.get(key)
        recent = self._recent.setdefault(agent, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if (last is not None and now - last < self.window) or len(recent) >= self.per_agent:
            if last is not None:
                self._folded[key] = self._folded.get(key, 0) + 1
            return None
        recent.append(now)
        self._last[key] = now
        self._prune(now)
        return self._folded.pop(key, 0)

    def _prune(self, now: float) -> None:
        if len(self._last) <= 64 * self.per_agent:
            return
        for key, at in list(self._last.items()):
            if now - at >= self.window:  # its folded count goes too: the egress log has every attempt
                del self._last[key]
                self._folded.pop(key, None)
        for agent, times in list(self._recent.items()):
            if not times or times[-1] <= now - self.window:
                del self._recent[agent]


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
