"""Decisions' questions, Messages and Reminders as the page shows them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hive_core.events import MessageSent
from hive_kit import wire

FLOW_ROWS = 200


@dataclass(frozen=True)
class Threads:
    """What ``hive_web.readers.threads.operator_threads`` read as the operator."""

    questions: wire.Questions
    inbox: wire.Messages
    reminders: wire.Reminders
    flow: Sequence[MessageSent]  # oldest first


def threads_json(threads: Threads | None) -> dict[str, Any]:
    """Questions, the operator's inbox, reminders and the recent message flow; empty without a core."""
    if threads is None:
        return {"core": False, "questions": [], "inbox": [], "reminders": [], "flow": []}
    return {
        "core": True,
        "questions": [q.model_dump(mode="json") for q in threads.questions.questions],
        "inbox": [m.model_dump(mode="json") for m in threads.inbox.messages],
        "reminders": [r.model_dump(mode="json") for r in threads.reminders.reminders],
        "flow": [e.model_dump(mode="json") for e in threads.flow[-FLOW_ROWS:]],
    }
