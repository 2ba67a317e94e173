"""The agent MCP surface (server `hyperhive`): messaging, questions, reminders, identity.

Each tool is a thin translation from a model-friendly signature to one
`hive_kit.wire` request on the agent's own socket (identity = socket, so no
tool takes a sender). Host errors come back as readable text rather than
exceptions: the model should read "refused: …" and route around it, not see
a stack trace. The allowed-recipients check happens here, before the broker:
the agent's launch config is the trust boundary (the manager is always
allowed, so a restricted agent can always escalate).

Descriptions are written for the model: what, when, limits, one example.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from hive_kit.client import HiveClient
from hive_kit.errors import HiveError, error_code
from hive_kit.launch import AgentLaunchConfig
from hive_kit.routing import may_message
from hive_kit.wire import (
    MAX_RECV,
    MAX_TTL_SECONDS,
    MAX_WAIT_SECONDS,
    Ack,
    AnswerQuestion,
    Ask,
    CancelThread,
    GetOpenThreads,
    Message,
    Recv,
    Remind,
    Request,
    Send,
    Whoami,
)


@dataclass(frozen=True)
class ToolContext:
    launch: AgentLaunchConfig
    client: HiveClient


async def call(ctx: ToolContext, req: Request) -> Any:
    """One wire round trip; a host refusal becomes the text the model reads."""
    try:
        return await ctx.client.request(req)
    except HiveError as exc:
        return f"refused ({error_code(exc)}): {exc}"


def refusal_for_recipient(launch: AgentLaunchConfig, to: str) -> str | None:
    """None if `launch` may send to `to`; otherwise the text the model gets back (the host's own rule)."""
    why = may_message(launch.name, launch.allowed_recipients, to)
    return None if why is None else f"refused: {why}"


def format_messages(messages: list[Message]) -> str:
    if not messages:
        return "no messages"
    out = []
    for m in messages:
        when = datetime.fromtimestamp(m.sent_at, tz=UTC).strftime("%H:%M:%S")
        thread = f" (reply to #{m.in_reply_to})" if m.in_reply_to is not None else ""
        out.append(f"#{m.id} from {m.sender} at {when} UTC{thread}:\n{m.body}")
    return "\n\n".join(out)


def _dump(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json", exclude={"ok"}), indent=1)


SEND = """Send a message to another agent, the manager, the operator, or everyone.

When: to report results, hand off work, reply to a message (pass its id as in_reply_to to keep the thread).
Limits: `to` is an agent name, "manager", "operator" (the human, on the dashboard) or "*" (every agent but
you). If your configuration restricts recipients, others are refused with a message saying so; the manager is
always allowed. Bodies up to 256 KiB; put long material in a file in /state and send the path.
Example: send(to="manager", body="tests pass on branch fix-login; ready for review", in_reply_to=41)"""


async def send(
    ctx: ToolContext,
    to: Annotated[str, Field(description='Recipient: agent name, "manager", "operator" or "*".')],
    body: Annotated[str, Field(description="The message text.")],
    in_reply_to: Annotated[int | None, Field(description="Id of the message you answer.")] = None,
) -> str:
    refusal = refusal_for_recipient(ctx.launch, to)
    if refusal is not None:
        return refusal
    result = await call(ctx, Send(to=to, body=body, in_reply_to=in_reply_to))
    if isinstance(result, str):
        return result
    pairs = ", ".join(f"{r} (#{i})" for r, i in zip(result.recipients, result.ids, strict=False))
    return f"sent to {pairs}"


RECV = f"""Read messages from your inbox (they are marked as read).

When: to check for news mid-task (wait_seconds=0), or to wait for mail when you have nothing else to do
(wait_seconds=180) — never use `sleep` for waiting; recv returns the moment a message lands.
Limits: wait_seconds 0..{int(MAX_WAIT_SECONDS)} (0 or omitted: return at once); max 1..{MAX_RECV}, default 1.
Example: recv(wait_seconds=180, max=5)"""


async def recv(
    ctx: ToolContext,
    wait_seconds: Annotated[float | None, Field(description="0/omitted: peek; up to 180: wait.")] = None,
    max: Annotated[int, Field(description="How many messages at most (1-32).")] = 1,
) -> str:
    wait = None if not wait_seconds else min(float(wait_seconds), MAX_WAIT_SECONDS)
    result = await call(ctx, Recv(wait_seconds=wait, max=min(MAX_RECV, builtins.max(1, max))))
    if isinstance(result, str):
        return result
    if result.messages:
        # The model has seen them: ack now so a harness restart does not hand them out again.
        await call(ctx, Ack(ids=[m.id for m in result.messages]))
    return format_messages(result.messages)


ASK = f"""Ask the operator (default) or another agent a question; returns its id at once.

When: you need a decision or a fact you cannot find yourself. The answer arrives later as a message in your
inbox (from "system"), so end your turn or keep working; do not wait in a loop.
Limits: options are choices shown as buttons (multi=true lets them pick several; free text is always allowed);
ttl_seconds up to {MAX_TTL_SECONDS} (6 h): unanswered by then, the answer is "[expired]". You cannot ask
yourself.
Example: ask(question="Deploy to staging now?", options=["yes", "wait"], ttl_seconds=3600)"""


async def ask(
    ctx: ToolContext,
    question: Annotated[str, Field(description="The question, self-contained.")],
    options: Annotated[list[str] | None, Field(description="Choices to offer.")] = None,
    multi: Annotated[bool, Field(description="Allow several options.")] = False,
    ttl_seconds: Annotated[int | None, Field(description="Expire after this many seconds.")] = None,
    to: Annotated[str | None, Field(description='An agent name; omitted = "operator".')] = None,
) -> str:
    target = None if to in (None, "", "operator") else to
    req = Ask(question=question, options=options or [], multi=multi, ttl_seconds=ttl_seconds, to=target)
    result = await call(ctx, req)
    if isinstance(result, str):
        return result
    q = result.question
    return f"question #{q.id} asked to {q.target}; the answer will arrive as a message"


ANSWER = """Answer a question another agent asked you (its id was in the message that told you).

When: a message says an agent asked you question #N. Only the question's target may answer.
Limits: one answer per question; already answered or cancelled questions are refused.
Example: answer(id=17, answer="use the v2 endpoint; v1 is gone")"""


async def answer(
    ctx: ToolContext,
    id: Annotated[int, Field(description="The question's id.")],
    answer: Annotated[str, Field(description="Your answer.")],
) -> str:
    result = await call(ctx, AnswerQuestion(id=id, answer=answer))
    return result if isinstance(result, str) else f"answered question #{id}"


REMIND = """Set a reminder: a message to yourself delivered later, which wakes you.

When: to follow up on something after a delay (check a build, re-ask a peer). Give exactly one of
delay_seconds (from now) or at_unix_timestamp.
Limits: an inline message is limited to 4096 bytes; for more, write a file in /state and pass file_path.
Example: remind(message="check whether CI on fix-login finished", delay_seconds=1800)"""


async def remind(
    ctx: ToolContext,
    message: Annotated[str, Field(description="What to tell your future self.")],
    delay_seconds: Annotated[float | None, Field(description="Seconds from now.")] = None,
    at_unix_timestamp: Annotated[float | None, Field(description="Absolute time, unix seconds.")] = None,
    file_path: Annotated[str | None, Field(description="A file with the details.")] = None,
) -> str:
    try:
        req = Remind(message=message, delay_seconds=delay_seconds, at=at_unix_timestamp, file_path=file_path)
    except ValueError as exc:
        return f"refused: {exc}"
    result = await call(ctx, req)
    if isinstance(result, str):
        return result
    due = datetime.fromtimestamp(result.reminder.due_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"reminder #{result.reminder.id} set for {due}"


OPEN_THREADS = """List what is still open for you: proposals awaiting the operator, your unanswered questions,
questions waiting for your answer, and your pending reminders.

When: after a restart, before ending a turn, or when unsure what you are waiting for.
Limits: none; read-only.
Example: get_open_threads()"""


async def get_open_threads(ctx: ToolContext) -> str:
    result = await call(ctx, GetOpenThreads())
    return result if isinstance(result, str) else _dump(result)


CANCEL = """Cancel one of your open questions or pending reminders.

When: the question no longer matters (the asker sees "[cancelled by you]"), or a reminder is obsolete.
Limits: only your own threads; kind is "question" or "reminder".
Example: cancel_thread(kind="reminder", id=8)"""


async def cancel_thread(
    ctx: ToolContext,
    kind: Annotated[Literal["question", "reminder"], Field(description='"question" or "reminder".')],
    id: Annotated[int, Field(description="Its id.")],
) -> str:
    result = await call(ctx, CancelThread(kind=kind, id=id))
    return result if isinstance(result, str) else f"cancelled {kind} #{id}"


WHOAMI = """Who you are: your name, role, the operator's pronouns and the desired-state revision you run.

When: at the start of work, or when unsure of your identity after a restart.
Limits: none; read-only.
Example: whoami()"""


async def whoami(ctx: ToolContext) -> str:
    result = await call(ctx, Whoami())
    return result if isinstance(result, str) else _dump(result)


AGENT_TOOLS = (
    (send, SEND),
    (recv, RECV),
    (ask, ASK),
    (answer, ANSWER),
    (remind, REMIND),
    (get_open_threads, OPEN_THREADS),
    (cancel_thread, CANCEL),
    (whoami, WHOAMI),
)
