"""The wire contract: every op parses from its JSON line, bad requests say what is wrong."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import ValidationError

from hive_kit import wire


def parse(line: dict[str, object]) -> wire.Request:
    return wire.REQUEST_ADAPTER.validate_json(json.dumps(line))


def test_every_op_has_a_request_type_and_response() -> None:
    ops = {
        "send": {"to": "a", "body": "hi"},
        "recv": {},
        "ack": {"ids": [1]},
        "recent": {},
        "ask": {"question": "q?"},
        "answer": {"id": 1, "answer": "yes"},
        "remind": {"message": "m", "delay_seconds": 5},
        "get_open_threads": {},
        "cancel_thread": {"kind": "question", "id": 1},
        "whoami": {},
        "hello": {"pid": 3},
        "report": {"status": "needs_login"},
        "turn_slot": {},
        "turn_usage": {"turn_id": "t1", "models": [{"model": "haiku"}], "started_at": 1, "duration_ms": 2},
        "propose": {"ops": [{"op": "remove_agent", "name": "x"}], "description": "d"},
        "request_spawn": {"name": "x", "description": "d"},
        "start": {"name": "x"},
        "stop": {"name": "x"},
        "restart": {"name": "x"},
        "update": {"name": "x"},
        "propose_commit": {"bundle": "AAAA", "description": "d"},
        "draft_agent": {"name": "scout", "description": "d", "files": {"brief.md": "hi"}},
        "list_agents": {},
        "get_agent": {"name": "x"},
        "plan": {},
        "history": {"name": "x", "limit": 3},
        "logs": {"name": "x", "lines": 10},
        "get_proposal": {"id": 1},
        "inbox": {},
        "questions": {},
        "reminders": {},
        "retry_reminder": {"id": 1},
        "events": {},
        "reconcile_now": {},
        "status": {},
        "dashboard_login": {},
        "egress": {"agent": "coder"},
        "rebuild": {"name": "x"},
    }
    assert set(ops) == wire.ALL_OPS
    for op, fields in ops.items():
        req = parse({"op": op, **fields})
        assert req.model_dump()["op"] == op
        assert issubclass(req.response, wire.BaseModel)
        assert parse(json.loads(wire.encode_request(req))) == req


def test_a_request_cannot_name_its_sender() -> None:
    with pytest.raises(ValidationError, match="sender"):
        parse({"op": "send", "to": "a", "body": "hi", "sender": "operator"})


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"message": "m"}, "exactly one of delay_seconds"),
        ({"message": "m", "delay_seconds": 1, "at": 5}, "exactly one of delay_seconds"),
        ({"message": "x" * 5000, "delay_seconds": 1}, "file_path"),
    ],
)
def test_remind_refuses_ambiguous_or_oversized_reminders(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        parse({"op": "remind", **fields})


def test_a_long_reminder_with_a_file_is_accepted() -> None:
    req = parse({"op": "remind", "message": "x" * 5000, "delay_seconds": 1, "file_path": "notes/r.md"})
    assert isinstance(req, wire.Remind)


def test_limits_match_upstream() -> None:
    with pytest.raises(ValidationError):
        parse({"op": "recv", "wait_seconds": 181})
    with pytest.raises(ValidationError):
        parse({"op": "recv", "max": 33})
    with pytest.raises(ValidationError):
        parse({"op": "ask", "question": "q", "ttl_seconds": 6 * 3600 + 1})
    assert wire.cancelled_by("operator") == "[cancelled by operator]"


AGENT = {"send", "recv", "ack", "recent", "ask", "answer", "remind", "get_open_threads", "cancel_thread"}
AGENT |= {"whoami", "hello", "report", "turn_slot", "turn_usage"}
MANAGER = AGENT | {"propose", "request_spawn", "start", "stop", "restart", "update"}
MANAGER |= {"propose_commit", "list_agents", "get_agent", "plan", "history", "logs", "get_proposal"}
MANAGER |= {"draft_agent"}
ADMIN = {"send", "answer", "cancel_thread", "whoami", "recent", "inbox", "questions", "reminders"}
ADMIN |= {"retry_reminder", "events", "reconcile_now", "status", "dashboard_login"}
ADMIN |= {"egress", "restart", "rebuild"}


def test_each_socket_accepts_exactly_its_ops() -> None:
    assert (AGENT, MANAGER, ADMIN) == (wire.AGENT_OPS, wire.MANAGER_OPS, wire.ADMIN_OPS)
    for name, cls in wire.REQUEST_BY_OP.items():
        assert cls.op_name == name == cls.model_fields["op"].default
        assert {role for role in wire.Role if name in wire.ops_for(role)} == cls.roles


def test_an_op_is_spelt_once_and_a_mistake_fails_at_import() -> None:
    class Unlisted(wire.Request):
        op: Literal["unlisted"] = "unlisted"

    class Unspelt(wire.Request):
        op: str = "unspelt"

    with pytest.raises(TypeError, match="needs its op spelt as"):
        wire._bind((wire.Op(Unspelt, wire.Done, frozenset()),))
    with pytest.raises(TypeError, match=r"'send' .* appears twice"):
        wire._bind((wire.OPS[0], wire.OPS[0]))
    with pytest.raises(TypeError, match=r"missing from OPS: .*Unlisted"):
        wire._bind(wire.OPS)
