"""Reminders: due delivery as system messages, ownership, the pending cap, attempts and giving up."""

from __future__ import annotations

import pytest

from hive_core.ops.reminding import deliver_due
from hive_core.schedulers import run_deadlines_once
from hive_core.stores.reminders import MAX_ATTEMPTS
from hive_kit import wire
from hive_kit.errors import ForbiddenError, LimitError
from tests.core.conftest import FakeClock, Running


async def test_a_reminder_is_delivered_when_due_and_not_before(clocked: Running, clock: FakeClock) -> None:
    peer = clocked.client("peer")
    set_ = await peer.request(
        wire.Remind(message="check the build", delay_seconds=300, file_path="notes/b.md")
    )
    clock.advance(299)
    run_deadlines_once(clocked.daemon.core)
    assert (await peer.request(wire.Recv())).messages == []
    clock.advance(1)
    next_due = run_deadlines_once(clocked.daemon.core)
    [m] = (await peer.request(wire.Recv())).messages
    assert m.sender == "system"
    assert (
        f"reminder #{set_.reminder.id}" in m.body and "check the build" in m.body and "notes/b.md" in m.body
    )
    assert next_due is None
    [r] = (await clocked.client("operator").request(wire.ListReminders(include_done=True))).reminders
    assert (r.status, r.attempts) == ("sent", 1)


async def test_at_an_absolute_time(clocked: Running, clock: FakeClock) -> None:
    peer = clocked.client("peer")
    await peer.request(wire.Remind(message="standup", at=clock.now + 60))
    clock.advance(60)
    run_deadlines_once(clocked.daemon.core)
    [m] = (await peer.request(wire.Recv())).messages
    assert "standup" in m.body


async def test_only_the_owner_or_operator_cancels(daemon: Running) -> None:
    r = (await daemon.client("peer").request(wire.Remind(message="x", delay_seconds=60))).reminder
    with pytest.raises(ForbiddenError, match="belongs to peer"):
        await daemon.client("tester").request(wire.CancelThread(kind="reminder", id=r.id))
    await daemon.client("peer").request(wire.CancelThread(kind="reminder", id=r.id))
    assert (await daemon.client("operator").request(wire.ListReminders())).reminders == []


async def test_pending_cap_refuses_clearly(swarm, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from tests.core.conftest import start_daemon

    running = await start_daemon(swarm, clock)
    running.daemon.core.reminders.pending_cap = 3
    try:
        peer = running.client("peer")
        for i in range(3):
            await peer.request(wire.Remind(message=f"r{i}", delay_seconds=60))
        with pytest.raises(LimitError, match=r"already has 3 pending reminders.*cancel some"):
            await peer.request(wire.Remind(message="one too many", delay_seconds=60))
    finally:
        await running.close()


async def test_undeliverable_reminder_counts_attempts_then_gives_up(
    clocked: Running, clock: FakeClock
) -> None:
    core = clocked.daemon.core
    reminder = core.reminders.add("gone", "for an agent that left", clock.now)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(core, clock.now) == 0
        current = core.reminders.get(reminder.id)
        assert current.attempts == attempt
        assert current.last_error == "agent gone is not in desired state"
        clock.advance(3600)
    assert core.reminders.get(reminder.id).status == "failed"
    assert core.reminders.due(clock.now) == []
    retried = await clocked.client("operator").request(wire.RetryReminder(id=reminder.id))
    assert (retried.reminder.status, retried.reminder.attempts) == ("pending", 0)
