"""remind, and delivering reminders when they fall due (with attempts, a last error, and giving up)."""

from __future__ import annotations

import logging

from hive_core.core import Caller, HostCore
from hive_core.events import ReminderCancelled, ReminderFired, ReminderRetried, ReminderSet
from hive_core.ops.registry import handles
from hive_kit import wire
from hive_kit.errors import ForbiddenError, UserError
from hive_kit.names import Role

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30.0


def _check_path(path: str) -> str:
    if "\x00" in path or ".." in path.split("/"):
        raise UserError(f"file_path {path!r} may not contain '..' or NUL; give a path inside your state dir")
    return path


@handles(wire.Remind)
def remind(core: HostCore, caller: Caller, req: wire.Remind) -> wire.ReminderResult:
    now = core.clock()
    due = now + req.delay_seconds if req.delay_seconds is not None else float(req.at or 0)
    path = _check_path(req.file_path) if req.file_path else None
    reminder = core.reminders.add(caller.name, req.message, due, path)
    core.events.publish(ReminderSet(id=reminder.id, agent=caller.name, due_at=due))
    core.poke_deadlines()
    log.info("%s set reminder #%d, due in %.0fs", caller.name, reminder.id, due - now)
    return wire.ReminderResult(reminder=reminder)


def reminder_text(reminder: wire.Reminder, now: float) -> str:
    ago = max(0, int(now - reminder.created_at))
    text = f"[reminder #{reminder.id}, set {ago}s ago] {reminder.message}"
    if reminder.file_path:
        text += f"\ndetails: {reminder.file_path}"
    return text


def deliver_due(core: HostCore, now: float, limit: int = 100) -> int:
    """Deliver every due reminder as a system message; returns how many were delivered."""
    delivered = 0
    for reminder in core.reminders.due(now, limit):
        error = None
        if core.desired.agent(reminder.agent) is None:
            error = f"agent {reminder.agent} is not in desired state"
        if error is None:
            core.broker.system(reminder.agent, reminder_text(reminder, now))
            done = core.reminders.mark_sent(reminder.id)
            delivered += 1
        else:
            done = core.reminders.mark_failed_attempt(reminder.id, error, now + RETRY_AFTER_S)
            log.warning("reminder #%d for %s not delivered: %s", reminder.id, reminder.agent, error)
        core.events.publish(
            ReminderFired(
                id=reminder.id,
                agent=reminder.agent,
                delivered=error is None,
                attempts=done.attempts,
                error=error,
            )
        )
    return delivered


def cancel_reminder(core: HostCore, caller: Caller, rid: int) -> wire.Reminder:
    reminder = core.reminders.get(rid)
    if caller.role is not Role.OPERATOR and reminder.agent != caller.name:
        raise ForbiddenError(f"reminder #{rid} belongs to {reminder.agent}; you can cancel only your own")
    cancelled = core.reminders.cancel(rid)
    core.events.publish(ReminderCancelled(id=rid, agent=reminder.agent, by=caller.name))
    return cancelled


@handles(wire.ListReminders)
def list_reminders(core: HostCore, caller: Caller, req: wire.ListReminders) -> wire.Reminders:
    found = core.reminders.listing(req.agent, include_done=req.include_done, limit=req.limit)
    return wire.Reminders(reminders=found)


@handles(wire.RetryReminder)
def retry_reminder(core: HostCore, caller: Caller, req: wire.RetryReminder) -> wire.ReminderResult:
    reminder = core.reminders.retry(req.id)
    core.events.publish(ReminderRetried(id=reminder.id, agent=reminder.agent, by=caller.name))
    core.poke_deadlines()
    log.info("%s retried reminder #%d for %s", caller.name, reminder.id, reminder.agent)
    return wire.ReminderResult(reminder=reminder)
