"""The JSON-lines wire between the host and its clients: one source of truth for both sides.

Every socket (admin, manager, agents/<name>) speaks the same framing: one JSON
object per line, a request ``{"op": "<name>", ...}`` answered by exactly one
response line ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code",
"message"}}`` (codes in ``hive_kit.errors``), in order. The one exception is
``events`` with ``follow``: the host keeps writing ``EventsBatch`` lines until
the client hangs up.

**Who is asking is the socket, never a field.** No request carries a sender;
``send`` from ``run/agents/coder/hive.sock`` is from ``coder``. Which ops a socket
accepts is in ``AGENT_OPS`` / ``MANAGER_OPS`` / ``ADMIN_OPS``.

The harness imports this module and ``hive_kit.client`` only; keep it free of
host-side imports (no stores, no events module: events travel as plain dicts
here and ``hive_core.events.parse_event`` types them on the host side).
Changes must be additive: the harness and host may be from different builds.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from hive_kit.names import Role

MAX_LINE_BYTES = 1024 * 1024
MAX_WAIT_SECONDS = 180.0
MAX_RECV = 32
MAX_TTL_SECONDS = 6 * 3600
MAX_INLINE_REMINDER_BYTES = 4096
MAX_BODY_BYTES = 256 * 1024


def _installed_version() -> str:
    try:
        return importlib.metadata.version("hyperhive")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


VERSION = _installed_version()
"""This build's version, read once at import: a daemon answers the one it started with (``status``),
so `hive doctor` can tell a daemon left running across an upgrade from the CLI beside it."""

TTL_WATCHDOG = "ttl-watchdog"
EXPIRED = "[expired]"


def cancelled_by(who: str) -> str:
    """The answer a cancelled question gets (upstream's sentinel)."""
    return f"[cancelled by {who}]"


_REQ = ConfigDict(extra="forbid", frozen=True)


# ---- records returned by the host -------------------------------------------------------------


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    sender: str  # an agent name, "operator" or "system"
    recipient: str
    body: str
    in_reply_to: int | None = None
    sent_at: float  # unix seconds
    delivered_at: float | None = None
    acked_at: float | None = None


class Question(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    asker: str
    target: str  # "operator" or an agent name
    question: str
    options: list[str] = Field(default_factory=list)
    multi: bool = False
    asked_at: float
    deadline_at: float | None = None
    answered_at: float | None = None
    answer: str | None = None
    answerer: str | None = None  # who answered: the target, "operator", "ttl-watchdog", or the canceller

    @property
    def open(self) -> bool:
        return self.answered_at is None


class Reminder(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    agent: str
    message: str
    file_path: str | None = None
    due_at: float
    created_at: float
    sent_at: float | None = None
    attempts: int = 0
    last_error: str | None = None
    status: Literal["pending", "sent", "failed", "cancelled"] = "pending"


class EgressEntry(BaseModel):
    """One connection an agent asked the host's egress proxy for."""

    model_config = ConfigDict(frozen=True)
    id: int
    host: str
    port: int
    method: str  # CONNECT, or the plain-HTTP method
    allowed: bool
    reason: str  # the rule that allowed it, or why it was refused or failed
    bytes_up: int  # agent → host
    bytes_down: int  # host → agent
    started: float
    ended: float | None = None


class PendingProposal(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    description: str
    created_at: float


# ---- requests ---------------------------------------------------------------------------------


class Request(BaseModel):
    """One op. Its name is spelt once, in its ``op`` field's ``Literal``; the rest is derived.

    ``op_name`` (that Literal), ``response`` and ``roles`` are bound from ``OPS``
    below when this module is imported.
    """

    model_config = _REQ
    op_name: ClassVar[str]
    response: ClassVar[type[BaseModel]]
    roles: ClassVar[frozenset[Role]]  # whose sockets accept it


class Send(Request):
    """To an agent, "manager", "operator", or "*" (every agent but the sender)."""

    op: Literal["send"] = "send"
    to: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=MAX_BODY_BYTES)
    in_reply_to: int | None = None


class Recv(Request):
    """Take up to ``max`` messages; 0/None returns at once, otherwise parks up to ``wait_seconds``."""

    op: Literal["recv"] = "recv"
    wait_seconds: float | None = Field(default=None, ge=0, le=MAX_WAIT_SECONDS)
    max: int = Field(default=1, ge=1, le=MAX_RECV)


class Ack(Request):
    """The harness has used these messages; they will not be handed out again."""

    op: Literal["ack"] = "ack"
    ids: list[int] = Field(min_length=1, max_length=1000)


class Recent(Request):
    """The caller's latest messages, both directions, newest last."""

    op: Literal["recent"] = "recent"
    limit: int = Field(default=20, ge=1, le=500)


class Ask(Request):
    op: Literal["ask"] = "ask"
    question: str = Field(min_length=1, max_length=MAX_BODY_BYTES)
    options: list[str] = Field(default_factory=list, max_length=50)
    multi: bool = False
    ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS)
    to: str | None = Field(default=None, max_length=64)  # None = the operator


class AnswerQuestion(Request):
    """Only the question's target may answer; the operator may always override."""

    op: Literal["answer"] = "answer"
    id: int
    answer: str = Field(min_length=1, max_length=MAX_BODY_BYTES)


class Remind(Request):
    """Exactly one of ``delay_seconds`` and ``at`` (unix seconds)."""

    op: Literal["remind"] = "remind"
    message: str = Field(min_length=1, max_length=MAX_BODY_BYTES)
    delay_seconds: float | None = Field(default=None, ge=0, le=366 * 86400)
    at: float | None = Field(default=None, ge=0)
    file_path: str | None = Field(default=None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _one_time(self) -> Remind:
        if (self.delay_seconds is None) == (self.at is None):
            raise ValueError("give exactly one of delay_seconds (from now) or at (unix seconds)")
        if self.file_path is None and len(self.message.encode()) > MAX_INLINE_REMINDER_BYTES:
            raise ValueError(
                f"an inline reminder message is limited to {MAX_INLINE_REMINDER_BYTES} bytes; "
                "write the details to a file in your state dir and pass its path as file_path"
            )
        return self


class GetOpenThreads(Request):
    op: Literal["get_open_threads"] = "get_open_threads"


class CancelThread(Request):
    """Cancel one of the caller's questions or reminders (the operator may cancel any)."""

    op: Literal["cancel_thread"] = "cancel_thread"
    kind: Literal["question", "reminder"]
    id: int


class Whoami(Request):
    op: Literal["whoami"] = "whoami"


class Hello(Request):
    """The harness announces itself after start; unacked messages are handed out again."""

    op: Literal["hello"] = "hello"
    pid: int = Field(ge=0)
    web_port: int = Field(default=0, ge=0, le=65535)


class Report(Request):
    op: Literal["report"] = "report"
    status: Literal["needs_login", "logged_in"]


class TurnSlot(Request):
    """Wait (first come, first served) for one of the swarm's turn slots (hive.json max_concurrent_turns).

    The slot is held while the connection that asked stays open and given back when it closes,
    so ask on a connection of its own (``HiveClient.turn_slot``).
    """

    op: Literal["turn_slot"] = "turn_slot"
    wait: bool = False
    """While the agent is paused for its budget: False, refused at once (``budget`` error, so the
    harness can show ``paused: budget``); True, held by the host until the agent may run again."""


MAX_TURN_TOKENS = 1_000_000_000  # per kind, per model, per turn: far above any real turn
MAX_TURN_COST_USD = 10_000.0
TURN_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class ModelUsage(BaseModel):
    """One model's share of a turn, as the CLI reported it (``modelUsage``, else the turn's totals)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    model: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/@\[\]-]+$")
    input_tokens: int = Field(default=0, ge=0, le=MAX_TURN_TOKENS)
    output_tokens: int = Field(default=0, ge=0, le=MAX_TURN_TOKENS)
    cache_read_tokens: int = Field(default=0, ge=0, le=MAX_TURN_TOKENS)
    cache_creation_tokens: int = Field(default=0, ge=0, le=MAX_TURN_TOKENS)
    cost_usd: float | None = Field(default=None, ge=0, le=MAX_TURN_COST_USD)
    """None: the CLI reported no cost; the host prices the tokens (``hive_core.prices``)."""


class TurnUsage(Request):
    """After each turn: what it used, for the host's cost ledger (``hive_core.ledger``).

    The agent is whoever's socket this arrives on; a ``turn_id`` already recorded for
    it is ignored, so a retry after a lost answer never counts a turn twice.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    op: Literal["turn_usage"] = "turn_usage"
    turn_id: str = Field(pattern=TURN_ID_PATTERN)
    models: list[ModelUsage] = Field(min_length=1, max_length=8)
    started_at: float = Field(ge=0, le=1e11)
    duration_ms: int = Field(ge=0, le=7 * 86400 * 1000)
    tool_calls: int = Field(default=0, ge=0, le=100_000)
    tools: dict[Annotated[str, Field(max_length=128)], Annotated[int, Field(ge=0, le=100_000)]] = Field(
        default_factory=dict, max_length=64
    )
    """Calls per tool name (the agent page's "tool use" chart)."""
    result_kind: str = Field(default="ok", min_length=1, max_length=32, pattern=r"^[a-z_]+$")


# manager only


class Propose(Request):
    """A desired-state change (``desired.changes`` ops) recorded as a proposal for the operator."""

    op: Literal["propose"] = "propose"
    ops: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=MAX_BODY_BYTES)


class RequestSpawn(Request):
    op: Literal["request_spawn"] = "request_spawn"
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=MAX_BODY_BYTES)
    model: str | None = Field(default=None, max_length=200)


class DraftAgent(Request):
    """A new agent drafted whole (its JSON, agent.nix, seed files for /state): one proposal."""

    op: Literal["draft_agent"] = "draft_agent"
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=MAX_BODY_BYTES)
    config: dict[str, Any] = Field(default_factory=dict)
    agent_nix: str | None = Field(default=None, max_length=MAX_BODY_BYTES)
    files: dict[str, str] = Field(default_factory=dict, max_length=64)


class Start(Request):
    op: Literal["start"] = "start"
    name: str = Field(min_length=1, max_length=64)


class Stop(Request):
    op: Literal["stop"] = "stop"
    name: str = Field(min_length=1, max_length=64)


class Restart(Request):
    """Stop and start an agent's container as it is (the manager's tool, the operator's `hive restart`)."""

    op: Literal["restart"] = "restart"
    name: str = Field(min_length=1, max_length=64)


class Update(Request):
    op: Literal["update"] = "update"
    name: str = Field(min_length=1, max_length=64)


# manager only, read-only: what the manager sees of the swarm (every answer is capped, see MAX_*)

MAX_READ_BYTES = 256 * 1024
"""The most text one read op hands back (a diff, a plan, a log tail, a file); more is cut with a note."""
MAX_MANAGER_LOG_LINES = 500
MAX_HISTORY = 20


MAX_BUNDLE_BYTES = 512 * 1024
"""The largest git bundle ``propose_commit`` takes (base64 in the request line, under ``MAX_LINE_BYTES``)."""


class ProposeCommit(Request):
    """A commit from the manager's clone of the meta repo: a git bundle (base64) of ``origin/main..it``."""

    op: Literal["propose_commit"] = "propose_commit"
    bundle: str = Field(min_length=1, max_length=(MAX_BUNDLE_BYTES + 2) // 3 * 4)
    description: str = Field(min_length=1, max_length=MAX_BODY_BYTES)


class ListAgents(Request):
    """Every agent: desired and observed state, conditions, model, cost so far, open threads."""

    op: Literal["list_agents"] = "list_agents"


class GetAgent(Request):
    """One agent's desired JSON, its agent.nix, and the launch config the runtime was handed."""

    op: Literal["get_agent"] = "get_agent"
    name: str = Field(min_length=1, max_length=64)


class PlanNow(Request):
    """The reconciler's dry run now, as `hive reconcile --dry-run` prints it."""

    op: Literal["plan"] = "plan"


class DesiredHistory(Request):
    """Commits on `main`, newest first, with their diffs (``name``: only the commits touching it)."""

    op: Literal["history"] = "history"
    name: str | None = Field(default=None, min_length=1, max_length=64)
    limit: int = Field(default=10, ge=1, le=MAX_HISTORY)


class AgentLogs(Request):
    """The tail of an agent's harness log."""

    op: Literal["logs"] = "logs"
    name: str = Field(min_length=1, max_length=64)
    lines: int = Field(default=100, ge=1, le=MAX_MANAGER_LOG_LINES)


class GetProposal(Request):
    op: Literal["get_proposal"] = "get_proposal"
    id: int = Field(ge=1)


# admin (operator) only


class Inbox(Request):
    """The operator's messages, newest last; ``mark_read`` marks those returned as read."""

    op: Literal["inbox"] = "inbox"
    limit: int = Field(default=50, ge=1, le=1000)
    unread_only: bool = False
    mark_read: bool = True


class ListQuestions(Request):
    op: Literal["questions"] = "questions"
    include_answered: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


class ListReminders(Request):
    op: Literal["reminders"] = "reminders"
    agent: str | None = None
    include_done: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


class RetryReminder(Request):
    """Deliver a failed (or pending) reminder now, with a fresh attempt count."""

    op: Literal["retry_reminder"] = "retry_reminder"
    id: int


class Events(Request):
    """Events with ``seq`` > ``since``; with ``follow`` the host keeps streaming batches."""

    op: Literal["events"] = "events"
    since: int = Field(default=0, ge=0)
    limit: int = Field(default=500, ge=1, le=5000)
    follow: bool = False


class ReconcileNow(Request):
    op: Literal["reconcile_now"] = "reconcile_now"
    reason: str = "operator asked"


class Status(Request):
    op: Literal["status"] = "status"


class Rebuild(Request):
    """Destroy and create an agent's container again from current desired state; its /state is kept."""

    op: Literal["rebuild"] = "rebuild"
    name: str = Field(min_length=1, max_length=64)


class DashboardLogin(Request):
    """A one-time link that logs a browser into the dashboard (`hive dashboard url`)."""

    op: Literal["dashboard_login"] = "dashboard_login"


class Egress(Request):
    """An agent's latest egress connections, newest first, and its allow-list now."""

    op: Literal["egress"] = "egress"
    agent: str = Field(min_length=1, max_length=64)
    limit: int = Field(default=100, ge=1, le=5000)
    denied_only: bool = False


# ---- responses --------------------------------------------------------------------------------


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    ok: Literal[True] = True


class Done(Response):
    """A request that returns nothing but a short human-readable note."""

    note: str = ""


class SendResult(Response):
    ids: list[int]  # one per recipient (a broadcast makes several)
    recipients: list[str]


class Messages(Response):
    messages: list[Message]


class AckResult(Response):
    acked: list[int]
    unknown: list[int] = Field(default_factory=list)  # not the caller's, or not delivered


class QuestionResult(Response):
    question: Question


class Questions(Response):
    questions: list[Question]


class ReminderResult(Response):
    reminder: Reminder


class Reminders(Response):
    reminders: list[Reminder]


class OpenThreads(Response):
    approvals: list[PendingProposal]
    questions_asked: list[Question]  # by the caller, unanswered
    questions_to_me: list[Question]  # to the caller, unanswered
    reminders: list[Reminder]  # the caller's, pending
    counts: dict[str, int]  # the four lengths, keyed by the field names above


class WhoamiResult(Response):
    name: str
    role: Role
    operator_pronouns: str
    revision: str


class ProposalResult(Response):
    proposal_id: int
    commit: str
    description: str


class CommitResult(Response):
    revision: str | None  # None: desired state already said that
    note: str = ""


class EventsBatch(Response):
    events: list[dict[str, Any]]  # parse with hive_core.events.parse_event
    next_seq: int  # pass as `since` to continue


class StatusResult(Response):
    agents: list[str]
    unread: dict[str, int]  # undelivered messages per recipient
    open_questions: int
    pending_reminders: int
    last_seq: int
    revision: str
    harnesses: dict[str, dict[str, Any]]  # name → {pid, web_port, at}
    reconciler: dict[str, Any] | None = None  # None: the reconciler is not running
    version: str = ""  # the daemon's VERSION; "" from a daemon older than this field
    dashboard: str | None = None  # the dashboard's base URL (http://host:port) while it is served
    caps: dict[str, Any] | None = None  # hive.json's caps and their use now (hive_core.ops.admin.caps_usage)
    paused: dict[str, str] = Field(default_factory=dict)  # agent → why the host grants it no turn (budget)


class SlotGranted(Response):
    waited_seconds: float
    limit: int | None  # None: no cap
    running: int  # slots held now, this one included


class LoginLinkResult(Response):
    url: str  # http://host:port/login?code=...: one use, until expires_at
    expires_at: float


class EgressEntries(Response):
    agent: str
    allow: list[str]  # the effective allow-list: the model API first
    entries: list[EgressEntry]


class AgentsOverview(Response):
    revision: str  # desired state's `main`
    agents: list[dict[str, Any]]  # one per agent: see hive_core.ops.reading.agent_row
    reconciler: bool  # False: no observed state (the reconciler is not running)


class AgentDetail(Response):
    name: str
    desired: dict[str, Any]  # agents/<name>.json as desired state holds it
    agent_nix: str | None  # agents/<name>/agent.nix, if it has one
    launch: dict[str, Any] | None  # build/agent.json: what the runtime was last handed (None: never built)
    seed_files: list[str] = Field(default_factory=list)  # agents/<name>/seed/<path>: paths under /state


class PlanText(Response):
    text: str  # the lines `hive reconcile --dry-run` prints
    changes: bool  # False: the swarm matches desired state


class HistoryResult(Response):
    commits: list[dict[str, Any]]  # {commit, author, time, message, diff, diff_truncated}, newest first


class LogTail(Response):
    name: str
    lines: list[str]
    truncated: bool  # True: older lines were dropped to stay under MAX_READ_BYTES


class ProposalDetail(Response):
    proposal: dict[str, Any]  # desired.proposals.to_json (with its diff)
    diff_truncated: bool


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    message: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(frozen=True)
    ok: Literal[False] = False
    error: ErrorBody


@dataclass(frozen=True)
class Op:
    """One row of ``OPS``: a request, the response it is answered with, and who may send it."""

    request: type[Request]
    response: type[Response]
    roles: frozenset[Role]


_AGENTS = frozenset({Role.AGENT, Role.MANAGER})  # every agent's socket, the manager's included
_MANAGER = frozenset({Role.MANAGER})
_OPERATOR = frozenset({Role.OPERATOR})
_EVERYONE = _AGENTS | _OPERATOR

OPS: tuple[Op, ...] = (
    Op(Send, SendResult, _EVERYONE),
    Op(Recv, Messages, _AGENTS),
    Op(Ack, AckResult, _AGENTS),
    Op(Recent, Messages, _EVERYONE),
    Op(Ask, QuestionResult, _AGENTS),
    Op(AnswerQuestion, QuestionResult, _EVERYONE),
    Op(Remind, ReminderResult, _AGENTS),
    Op(GetOpenThreads, OpenThreads, _AGENTS),
    Op(CancelThread, Done, _EVERYONE),
    Op(Whoami, WhoamiResult, _EVERYONE),
    Op(Hello, Done, _AGENTS),
    Op(Report, Done, _AGENTS),
    Op(TurnSlot, SlotGranted, _AGENTS),
    Op(TurnUsage, Done, _AGENTS),
    Op(Propose, ProposalResult, _MANAGER),
    Op(RequestSpawn, ProposalResult, _MANAGER),
    Op(Start, CommitResult, _MANAGER),
    Op(Stop, CommitResult, _MANAGER),
    Op(Restart, Done, _MANAGER | _OPERATOR),
    Op(Update, Done, _MANAGER),
    Op(ProposeCommit, ProposalResult, _MANAGER),
    Op(DraftAgent, ProposalResult, _MANAGER),
    Op(ListAgents, AgentsOverview, _MANAGER),
    Op(GetAgent, AgentDetail, _MANAGER),
    Op(PlanNow, PlanText, _MANAGER),
    Op(DesiredHistory, HistoryResult, _MANAGER),
    Op(AgentLogs, LogTail, _MANAGER),
    Op(GetProposal, ProposalDetail, _MANAGER),
    Op(Inbox, Messages, _OPERATOR),
    Op(ListQuestions, Questions, _OPERATOR),
    Op(ListReminders, Reminders, _OPERATOR),
    Op(RetryReminder, ReminderResult, _OPERATOR),
    Op(Events, EventsBatch, _OPERATOR),
    Op(ReconcileNow, Done, _OPERATOR),
    Op(Status, StatusResult, _OPERATOR),
    Op(Rebuild, Done, _OPERATOR),
    Op(DashboardLogin, LoginLinkResult, _OPERATOR),
    Op(Egress, EgressEntries, _OPERATOR),
)
"""Every op, once: the request union, each request's response and roles, and the sets below come from here."""


def _literal_op(cls: type[Request]) -> str:
    field = cls.model_fields.get("op")
    args = get_args(field.annotation) if field is not None else ()
    if (
        field is None
        or get_origin(field.annotation) is not Literal
        or len(args) != 1
        or field.default != args[0]
    ):
        raise TypeError(f'{cls.__name__} needs its op spelt as `op: Literal["name"] = "name"`')
    return str(args[0])


def _bind(ops: tuple[Op, ...]) -> dict[str, type[Request]]:
    """Bind each row onto its request class; refuse a class or op name twice, or a request left out."""
    by_op: dict[str, type[Request]] = {}
    for row in ops:
        name = _literal_op(row.request)
        if name in by_op or row.request in by_op.values():
            raise TypeError(f"op {name!r} ({row.request.__name__}) appears twice in OPS")
        row.request.op_name, row.request.response, row.request.roles = name, row.response, row.roles
        by_op[name] = row.request
    missing = [cls.__name__ for cls in Request.__subclasses__() if cls not in by_op.values()]
    if missing:
        raise TypeError(f"requests missing from OPS: {', '.join(missing)}")
    return by_op


REQUEST_BY_OP: Mapping[str, type[Request]] = MappingProxyType(_bind(OPS))
REQUEST_TYPES: tuple[type[Request], ...] = tuple(REQUEST_BY_OP.values())

AnyRequest: Any = Annotated[Union[REQUEST_TYPES], Field(discriminator="op")]  # noqa: UP007 - built from a tuple
REQUEST_ADAPTER: TypeAdapter[Request] = TypeAdapter(AnyRequest)


def ops_for(role: Role) -> frozenset[str]:
    """The op names a socket of ``role`` accepts."""
    return frozenset(name for name, cls in REQUEST_BY_OP.items() if role in cls.roles)


AGENT_OPS = ops_for(Role.AGENT)
MANAGER_OPS = ops_for(Role.MANAGER)
ADMIN_OPS = ops_for(Role.OPERATOR)
ALL_OPS = frozenset(REQUEST_BY_OP)


def encode(model: BaseModel) -> bytes:
    """One wire line (with its newline)."""
    return model.model_dump_json(exclude_none=False).encode() + b"\n"


def encode_request(req: Request) -> bytes:
    return req.model_dump_json().encode() + b"\n"
