"""stream-json parsing: what the turn loop concludes from the CLI's output (no processes)."""

from __future__ import annotations

import json

from hive_harness.streamjson import ResultKind, TokenUsage, TurnAccumulator, live_items, parse_line


def _assistant(msg_id: str, blocks: list[dict], usage: dict | None = None, **extra: object) -> dict:
    message = {"id": msg_id, "content": blocks, "usage": usage or {}}
    return {"type": "assistant", "message": message, "session_id": "s1", **extra}


def _usage(i: int, o: int, cr: int = 0, cc: int = 0) -> dict:
    return {
        "input_tokens": i,
        "output_tokens": o,
        "cache_read_input_tokens": cr,
        "cache_creation_input_tokens": cc,
    }


def test_usage_is_counted_once_per_message_id_even_when_blocks_repeat_it() -> None:
    acc = TurnAccumulator()
    acc.feed({"type": "system", "subtype": "init", "model": "claude-haiku", "session_id": "s1"})
    # one API call, two content blocks: the CLI repeats the same id and usage
    acc.feed(_assistant("m1", [{"type": "text", "text": "a"}], _usage(100, 1, 20, 30)))
    acc.feed(
        _assistant(
            "m1", [{"type": "tool_use", "id": "t1", "name": "mcp__hyperhive__send"}], _usage(100, 1, 20, 30)
        )
    )
    acc.feed(_assistant("m2", [{"type": "text", "text": "b"}], _usage(50, 9)))
    outcome = acc.outcome()
    assert outcome.usage == TokenUsage(input=150, output=10, cache_read=20, cache_creation=30)
    assert outcome.tool_calls == {"mcp__hyperhive__send": 1}
    assert outcome.model == "claude-haiku"
    assert outcome.session_id == "s1"
    assert outcome.last_call == TokenUsage(50, 9)


def test_result_totals_win_over_partial_assistant_usage() -> None:
    acc = TurnAccumulator()
    acc.feed(_assistant("m1", [{"type": "text", "text": "hi"}], _usage(100, 1)))
    acc.feed({"type": "result", "is_error": False, "usage": _usage(100, 7), "total_cost_usd": 0.25})
    outcome = acc.outcome()
    assert outcome.kind is ResultKind.OK
    assert outcome.usage.output == 7
    assert outcome.cost_usd == 0.25
    assert outcome.note == ""


def test_authentication_failed_means_needs_login() -> None:
    acc = TurnAccumulator()
    acc.feed(
        _assistant(
            "x",
            [{"type": "text", "text": "Not logged in · Please run /login"}],
            error="authentication_failed",
        )
    )
    acc.feed({"type": "result", "is_error": True, "result": "Not logged in · Please run /login"})
    outcome = acc.outcome()
    assert outcome.kind is ResultKind.NEEDS_LOGIN
    assert "Not logged in" in outcome.note
    assert outcome.usage == TokenUsage()


def test_prompt_too_long_is_recognised_from_the_result() -> None:
    acc = TurnAccumulator()
    acc.feed(
        {"type": "result", "is_error": True, "result": "Prompt is too long · the request is ~215000 tokens"}
    )
    assert acc.outcome().kind is ResultKind.PROMPT_TOO_LONG


def test_no_result_is_a_failure_and_cancel_wins() -> None:
    acc = TurnAccumulator()
    acc.feed(_assistant("m1", [{"type": "text", "text": "partial"}], _usage(5, 1)))
    assert acc.outcome(exit_note="claude exited with code 1").kind is ResultKind.FAILED
    assert acc.outcome(exit_note="claude exited with code 1").note == "claude exited with code 1"
    assert acc.outcome(cancelled=True).kind is ResultKind.CANCELLED


def test_unknown_types_and_junk_lines_are_ignored() -> None:
    acc = TurnAccumulator()
    for line in [
        "",
        "not json",
        "[1, 2]",
        '{"type": "brand_new_event", "x": 1}',
        '{"type": "system", "subtype": "status"}',
    ]:
        event = parse_line(line)
        if event is not None:
            acc.feed(event)
            assert live_items(event) == []
    assert parse_line(b'{"type": "result"}\n') == {"type": "result"}
    assert acc.outcome().kind is ResultKind.FAILED


def test_live_items_show_text_tool_calls_and_results() -> None:
    items = live_items(
        _assistant(
            "m",
            [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t", "name": "n", "input": {"a": 1}}],
        )
    )
    assert items == [
        {"item": "text", "text": "hi"},
        {"item": "tool_use", "id": "t", "name": "n", "input": {"a": 1}},
    ]
    user = {
        "type": "user",
        "message": {
            "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "sent"}]}
            ]
        },
    }
    assert live_items(user) == [
        {"item": "tool_result", "tool_use_id": "t", "is_error": False, "text": "sent"}
    ]
    init = {
        "type": "system",
        "subtype": "init",
        "model": "m",
        "mcp_servers": [{"name": "hyperhive", "status": "connected"}],
    }
    assert json.loads(json.dumps(live_items(init))) == [
        {"item": "init", "model": "m", "mcp_servers": {"hyperhive": "connected"}}
    ]
