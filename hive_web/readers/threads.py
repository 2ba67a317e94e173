"""Questions, the operator's inbox and reminders (read as the operator), and the recent message flow.

The first three are host-core ops run through ``OperatorCall``, exactly as
`hive` reads them; the flow is the last ``message_sent`` events of the log up
to the snapshot's seq.
"""

from __future__ import annotations

from hive_core.events import MessageSent
from hive_kit import wire
from hive_web.feed import EventFeed
from hive_web.operator import OperatorCall, ask_core
from hive_web.views.threads import Threads

FLOW_WINDOW = 2000


async def operator_threads(call: OperatorCall | None, feed: EventFeed, head: int) -> Threads | None:
    """Everything the Decisions, Messages and Reminders sections show; None without a host core."""
    if call is None:
        return None
    questions = await ask_core(call, wire.ListQuestions(include_answered=True, limit=100), wire.Questions)
    inbox = await ask_core(call, wire.Inbox(limit=100, mark_read=False), wire.Messages)
    reminders = await ask_core(call, wire.ListReminders(include_done=True, limit=200), wire.Reminders)
    return Threads(questions, inbox, reminders, recent_flow(feed, head))


def recent_flow(feed: EventFeed, head: int) -> list[MessageSent]:
    """The ``message_sent`` events among the last ``FLOW_WINDOW`` up to ``head``, oldest first."""
    found: list[MessageSent] = []
    cursor = max(0, head - FLOW_WINDOW)
    while cursor < head:
        batch = feed.read_since(cursor, 500)
        if not batch:
            break
        for event in batch:
            if event.seq > head:
                break
            if isinstance(event, MessageSent):
                found.append(event)
        cursor = batch[-1].seq
    return found
