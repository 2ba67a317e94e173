"""The event stream: seq is monotonic across restarts and trimming; subscribers miss nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hive_core.events import EventLog, MessageSent, NeedsLogin, parse_event
from hive_core.stores.schema import open_core_db


def test_seq_continues_after_restart_and_trim(tmp_path: Path) -> None:
    db = tmp_path / "hive.sqlite"
    log = EventLog(open_core_db(db), max_rows=2)
    seqs = [log.publish(NeedsLogin(agent=f"a{i}")) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert log.trim() == 3
    assert [e.seq for e in log.read_since(0)] == [4, 5]
    reopened = EventLog(open_core_db(db))
    assert reopened.last_seq == 5
    assert reopened.publish(NeedsLogin(agent="x")) == 6


def test_events_read_back_typed(tmp_path: Path) -> None:
    log = EventLog(open_core_db(tmp_path / "hive.sqlite"))
    log.publish(MessageSent(id=7, sender="a", recipient="b"))
    [event] = log.read_since(0)
    assert isinstance(event, MessageSent)
    assert (event.seq, event.id, event.recipient) == (1, 7, "b")
    assert parse_event(event.model_dump(mode="json")) == event


async def test_subscriber_gets_history_then_live_events_without_gaps(tmp_path: Path) -> None:
    log = EventLog(open_core_db(tmp_path / "hive.sqlite"))
    for i in range(3):
        log.publish(NeedsLogin(agent=f"old{i}"))
    seen: list[int] = []

    async def follow() -> None:
        async for event in log.subscribe(since=1):
            seen.append(event.seq)
            if event.seq == 6:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    for i in range(3):
        log.publish(NeedsLogin(agent=f"new{i}"))
        await asyncio.sleep(0)
    await asyncio.wait_for(task, 5)
    assert seen == [2, 3, 4, 5, 6]
