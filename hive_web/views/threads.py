"""Decisions' questions, Messages and Reminders as the page shows them, read as the operator."""

from __future__ import annotations

from typing import Any

from hive_core.events import MessageSent
from hive_kit import wire
from hive_web.feed import EventFeed
from hive_web.operator import OperatorCall, ask_core

FLOW_WINDOW = 2000
FLOW_ROWS = 200


async def threads_snapshot(call: OperatorCall | None, feed: EventFeed, head: int) -> dict[str, Any]:
    """Questions, the operator's inbox, reminders and the recent message flow; None parts if no core."""
    if call is None:
        return {"core": False, "questions": [], "inbox": [], "reminders": [], "flow": []}
    questions = await ask_core(call, wire.ListQuestions(include_answered=True, limit=100), wire.Questions)
    inbox = await ask_core(call, wire.Inbox(limit=100, mark_read=False), wire.Messages)
    reminders = await ask_core(call, wire.ListReminders(include_done=True, limit=200), wire.Reminders)
    return {
        "core": True,
        "questions": [q.model_dump(mode="json") for q in questions.questions],
        "inbox": [m.model_dump(mode="json") for m in inbox.messages],
        "reminders": [r.model_dump(mode="json") for r in reminders.reminders],
        "flow": recent_flow(feed, head),
    }


def recent_flow(feed: EventFeed, head: int) -> list[dict[str, Any]]:
    """The last message_sent events up to ``head`` (the snapshot's seq), oldest first."""
    found: list[dict[str, Any]] = []
    cursor = max(0, head - FLOW_WINDOW)
    while cursor < head:
        batch = feed.read_since(cursor, 500)
        if not batch:
            break
        for event in batch:
            if event.seq > head:
                break
            if isinstance(event, MessageSent):
                found.append(event.model_dump(mode="json"))
        cursor = batch[-1].seq
    return found[-FLOW_ROWS:]
