"""The event bus (bounded, rising seq across restarts, exact resume) and turn stats, on real sqlite files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hive_harness.events import EventBus
from hive_harness.stats import TurnRecord, TurnStats


def test_history_is_bounded_and_survives_restart_with_rising_seq(tmp_path: Path) -> None:
    bus = EventBus(tmp_path / "events.sqlite", limit=50)
    for i in range(120):
        bus.publish("note", text=f"n{i}")
    bus.close()
    again = EventBus(tmp_path / "events.sqlite", limit=50)
    history = again.history()
    assert len(history) == 50
    assert history[-1].payload["text"] == "n119" and history[-1].seq == 120
    assert again.publish("note", text="after").seq == 121
    assert [e.seq for e in again.history(after=118)] == [119, 120, 121]


def test_envelope_kind_is_not_overwritten_by_payload(tmp_path: Path) -> None:
    bus = EventBus(tmp_path / "e.sqlite")
    event = bus.publish("stream", item="text", text="hi")
    assert event.as_json()["kind"] == "stream" and event.as_json()["item"] == "text"


async def test_replay_resumes_after_a_seq_without_losing_or_doubling(tmp_path: Path) -> None:
    bus = EventBus(tmp_path / "e.sqlite")
    for i in range(5):
        bus.publish("note", text=str(i))
    seen: list[int] = []

    async def consume() -> None:
        async for event in bus.replay(after=2):
            seen.append(event.seq)
            if event.seq == 3:
                bus.publish("note", text="during")  # published while history is being sent
            if len(seen) == 5:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    bus.publish("note", text="live")
    await asyncio.wait_for(task, 5)
    assert seen == [3, 4, 5, 6, 7]


def test_turn_stats_rows_and_window_summary(tmp_path: Path) -> None:
    stats = TurnStats(tmp_path / "turn-stats.sqlite")
    now = 1_800_000_000.0
    stats.record(
        TurnRecord(
            "haiku", "manager", "ok", now - 10, now - 9, 1000, 100, 7, 20, 30, 0.01, 2, {"send": 2}, 1, 0
        )
    )
    stats.record(
        TurnRecord("haiku", "bob", "cancelled", now - 5, now - 4, 3000, tool_call_breakdown={"recv": 1})
    )
    stats.record(TurnRecord("haiku", "old", "ok", now - 90_000, now - 89_999, 10))
    day = stats.summary("24h", now=now)
    assert day["turn_count"] == 2
    assert day["by_result"] == {"ok": 1, "cancelled": 1}
    assert day["tokens"]["input_tokens"] == 100 and day["tokens"]["cache_creation_tokens"] == 30
    assert day["tool_calls"] == {"send": 2, "recv": 1}
    assert day["turns"][0]["wake_from"] == "bob"
    assert stats.summary("all", now=now)["turn_count"] == 3
    with pytest.raises(ValueError, match="unknown window"):
        stats.summary("fortnight")
