"""`hive send|inbox|questions|answer|reminders|events`: the operator's side of the broker.

All of these talk to a running `hive serve` over the admin socket (the
operator's identity); they fail with a clear message when it is not running.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hive.cli.common import JsonOpt, StateDirOpt, admin, ok, print_json, print_table
from hive_kit import wire
from hive_kit.names import SYSTEM


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("send", send),
        ("inbox", inbox),
        ("questions", questions),
        ("answer", answer),
        ("reminders", reminders),
        ("events", events),
    ):
        app.command(name)(fn)


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Escape rich markup: bodies like "[reminder #3]" must print as written."""
    from rich.markup import escape

    return [tuple(escape(v) if isinstance(v, str) else v for v in row) for row in rows]


def _call(state_dir: Path | None, req: wire.Request) -> Any:
    with admin(state_dir) as client:
        return client.request(req)


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def send(
    to: Annotated[str, typer.Argument(help="An agent, 'manager', or '*' for every agent.")],
    body: Annotated[str, typer.Argument(help="The message.")],
    in_reply_to: Annotated[
        int | None, typer.Option("--reply-to", help="Id of the message this answers.")
    ] = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a message as the operator."""
    result: wire.SendResult = _call(state_dir, wire.Send(to=to, body=body, in_reply_to=in_reply_to))
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        ok(f"sent to {', '.join(result.recipients)} (message {', '.join(map(str, result.ids))})")


def inbox(
    unread: Annotated[bool, typer.Option("--unread", help="Only messages not read yet.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    keep_unread: Annotated[bool, typer.Option("--keep-unread", help="Do not mark them read.")] = False,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The operator's inbox (messages to 'operator'), oldest first; shown messages are marked read."""
    req = wire.Inbox(limit=limit, unread_only=unread, mark_read=not keep_unread)
    result: wire.Messages = _call(state_dir, req)
    if as_json:
        print_json([m.model_dump(mode="json") for m in result.messages])
        return
    rows = [
        (m.id, _when(m.sent_at), m.sender, m.in_reply_to, m.body, "" if m.acked_at else "new")
        for m in result.messages
    ]
    print_table("operator inbox", ["id", "sent", "from", "re", "message", ""], _rows(rows))


def questions(
    all_: Annotated[bool, typer.Option("--all", help="Include answered questions.")] = False,
    cancel: Annotated[int | None, typer.Option("--cancel", help="Cancel this question.")] = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open questions (to you and between agents); `hive answer ID TEXT` answers one."""
    if cancel is not None:
        done: wire.Done = _call(state_dir, wire.CancelThread(kind="question", id=cancel))
        ok(done.note)
        return
    result: wire.Questions = _call(state_dir, wire.ListQuestions(include_answered=all_))
    if as_json:
        print_json([q.model_dump(mode="json") for q in result.questions])
        return
    rows = [
        (
            q.id,
            q.asker,
            q.target,
            q.question + (f" ({' | '.join(q.options)})" if q.options else ""),
            _when(q.deadline_at),
            q.answer or "",
            q.answerer or "",
        )
        for q in result.questions
    ]
    print_table("questions", ["id", "from", "to", "question", "deadline", "answer", "by"], _rows(rows))


def answer(
    question_id: Annotated[int, typer.Argument(help="The question's id (from `hive questions`).")],
    text: Annotated[str, typer.Argument(help="Your answer.")],
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question (the operator may answer any, overriding its target)."""
    result: wire.QuestionResult = _call(state_dir, wire.AnswerQuestion(id=question_id, answer=text))
    if as_json:
        print_json(result.question.model_dump(mode="json"))
    else:
        asker = result.question.asker
        if asker == SYSTEM:  # the host's own question (a budget pause): the answer is what it did
            ok(f"answered question #{question_id}: {result.question.answer}")
        else:
            ok(f"answered question #{question_id}; {asker} will find it in their inbox")


def reminders(
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's reminders.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include sent and cancelled ones.")] = False,
    cancel: Annotated[int | None, typer.Option("--cancel", help="Cancel this reminder.")] = None,
    retry: Annotated[int | None, typer.Option("--retry", help="Deliver this (failed) reminder now.")] = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The reminder queue: pending and failed reminders of every agent."""
    if cancel is not None:
        done: wire.Done = _call(state_dir, wire.CancelThread(kind="reminder", id=cancel))
        ok(done.note)
        return
    if retry is not None:
        retried: wire.ReminderResult = _call(state_dir, wire.RetryReminder(id=retry))
        ok(f"reminder #{retried.reminder.id} will be delivered now")
        return
    result: wire.Reminders = _call(state_dir, wire.ListReminders(agent=agent, include_done=all_))
    if as_json:
        print_json([r.model_dump(mode="json") for r in result.reminders])
        return
    now = time.time()
    rows = [
        (
            r.id,
            r.agent,
            _when(r.due_at),
            f"{int(r.due_at - now)}s",
            r.status,
            r.attempts,
            r.last_error,
            r.message,
        )
        for r in result.reminders
    ]
    print_table(
        "reminders", ["id", "agent", "due", "in", "status", "tries", "last error", "message"], _rows(rows)
    )


def events(
    since: Annotated[int, typer.Option("--since", min=0, help="Show events after this seq.")] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The host's event stream (one line per event, with its seq)."""
    import json

    from hive.cli.common import console

    out = console()
    with admin(state_dir) as client:
        try:
            for batch in client.events(since, follow=follow):
                for event in batch.events:
                    if as_json:
                        print(json.dumps(event, ensure_ascii=False), flush=True)
                    else:
                        out.print(_event_line(event), markup=False)
        except KeyboardInterrupt:
            return


def _event_line(event: dict[str, Any]) -> str:
    skip = {"seq", "ts", "kind"}
    detail = " ".join(f"{k}={v}" for k, v in event.items() if k not in skip and v not in (None, "", []))
    return f"{event['seq']:>6} {_when(event['ts'])} {event['kind']:<24} {detail}"
