"""Retention: acked messages older than 30 days go, unacked ones never; events are bounded."""

from __future__ import annotations

from pathlib import Path

from hive_core.events import EventLog, NeedsLogin
from hive_core.stores.broker import RETENTION_S, Broker
from hive_core.stores.schema import open_core_db
from tests.core.conftest import FakeClock

DAY = 86400.0


def test_only_old_acked_messages_are_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    conn = open_core_db(tmp_path / "hive.sqlite")
    broker = Broker(conn, EventLog(conn), clock)
    acked, delivered, waiting = (broker.system("a", body) for body in "xyz")
    broker.take("a", 2)  # x and y delivered
    broker.ack("a", [acked.id])
    clock.advance(RETENTION_S + DAY)
    recent = broker.system("a", "fresh")
    broker.take("a", 10)
    broker.ack("a", [recent.id])
    assert broker.vacuum() == 1
    left = {m.body for m in broker.recent("a", 10)}
    assert left == {delivered.body, waiting.body, "fresh"}


def test_events_are_bounded_by_age_and_count(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EventLog(open_core_db(tmp_path / "hive.sqlite"), max_rows=3, max_age_s=7 * DAY)
    log.publish(NeedsLogin(agent="old", ts=clock.now))
    clock.advance(8 * DAY)
    for i in range(4):
        log.publish(NeedsLogin(agent=f"n{i}", ts=clock.now))
    assert log.trim(now=clock.now) == 2  # one too old, one over the count
    assert [e.agent for e in log.read_since(0)] == ["n1", "n2", "n3"]  # type: ignore[union-attr]
