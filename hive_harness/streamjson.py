"""Reading `claude --print --output-format stream-json --verbose`: pure, no I/O.

The CLI prints one JSON object per line: ``system/init`` (session, model,
MCP server status), ``assistant`` (one content block per event; blocks of one
API call repeat the same ``message.id`` and usage), ``user`` (tool results),
``result`` (the turn's totals) — and, over versions, other types we must
ignore without failing. ``TurnAccumulator`` folds those lines into what the
harness needs: usage counted once per ``message.id``, tool calls, the
session id, and the turn's result kind, including the two failures the loop
reacts to (``authentication_failed`` → needs login; "prompt is too long" →
compact and retry). ``live_items`` turns one line into what the agent page
shows live.

Usage: an assistant event carries the usage of ``message_start`` (output
tokens not final yet), so per id we keep the largest value seen of each
field; the ``result`` event carries the CLI's own totals over every API call
of the turn, which win when present.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROMPT_TOO_LONG_MARK = "prompt is too long"
AUTH_FAILED = "authentication_failed"


class ResultKind(StrEnum):
    OK = "ok"
    FAILED = "failed"
    PROMPT_TOO_LONG = "prompt_too_long"
    CANCELLED = "cancelled"
    NEEDS_LOGIN = "needs_login"


@dataclass(frozen=True)
class TokenUsage:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0

    @classmethod
    def from_json(cls, usage: Any) -> TokenUsage:
        if not isinstance(usage, dict):
            return cls()
        return cls(
            input=_int(usage.get("input_tokens")),
            output=_int(usage.get("output_tokens")),
            cache_read=_int(usage.get("cache_read_input_tokens")),
            cache_creation=_int(usage.get("cache_creation_input_tokens")),
        )

    def plus(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_creation + other.cache_creation,
        )

    def max(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            max(self.input, other.input),
            max(self.output, other.output),
            max(self.cache_read, other.cache_read),
            max(self.cache_creation, other.cache_creation),
        )

    @property
    def context(self) -> int:
        """Tokens in the context window of the call (what Claude Code's "N tokens" meter shows)."""
        return self.input + self.cache_read + self.cache_creation

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_tokens": self.cache_read,
            "cache_creation_tokens": self.cache_creation,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One stdout line → its JSON object, or None for blank or non-JSON lines (never raises)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _content(event: dict[str, Any]) -> list[dict[str, Any]]:
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _tool_result_text(block: dict[str, Any]) -> str:
    inner = block.get("content")
    if isinstance(inner, str):
        return inner
    if isinstance(inner, list):
        return "".join(str(p.get("text", "")) for p in inner if isinstance(p, dict))
    return ""


def live_items(event: dict[str, Any]) -> list[dict[str, Any]]:
    """What the agent page shows for one stream-json event (payloads of `stream` live events)."""
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        servers = event.get("mcp_servers") or []
        status = {s.get("name"): s.get("status") for s in servers if isinstance(s, dict)}
        return [{"item": "init", "model": event.get("model"), "mcp_servers": status}]
    items: list[dict[str, Any]] = []
    if kind == "assistant":
        for block in _content(event):
            if block.get("type") == "text" and block.get("text"):
                items.append({"item": "text", "text": block["text"]})
            elif block.get("type") == "tool_use":
                items.append(
                    {
                        "item": "tool_use",
                        "id": block.get("id"),
                        "name": block.get("name"),
                        "input": block.get("input"),
                    }
                )
            elif block.get("type") == "thinking" and block.get("thinking"):
                items.append({"item": "thinking", "text": block["thinking"]})
    elif kind == "user":
        for block in _content(event):
            if block.get("type") == "tool_result":
                items.append(
                    {
                        "item": "tool_result",
                        "tool_use_id": block.get("tool_use_id"),
                        "is_error": bool(block.get("is_error")),
                        "text": _tool_result_text(block),
                    }
                )
    return items


@dataclass(frozen=True)
class TurnOutcome:
    kind: ResultKind
    usage: TokenUsage
    cost_usd: float
    tool_calls: dict[str, int]
    session_id: str
    model: str
    note: str
    last_call: TokenUsage
    """Usage of the turn's last API call: how full the context window is now."""
    cost_reported: bool = False
    """The CLI's ``result`` event carried ``total_cost_usd`` (else ``cost_usd`` is 0, not a price)."""
    model_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The ``result`` event's ``modelUsage``: per model, its tokens and ``costUSD``."""

    @property
    def tool_call_count(self) -> int:
        return sum(self.tool_calls.values())


@dataclass
class TurnAccumulator:
    """Feed it every parsed stream-json object of one claude run; ask for the outcome at the end."""

    usage_by_id: dict[str, TokenUsage] = field(default_factory=dict)
    tool_calls: Counter[str] = field(default_factory=Counter)
    seen_tool_ids: set[str] = field(default_factory=set)
    session_id: str = ""
    model: str = ""
    auth_failed: bool = False
    too_long: bool = False
    error_text: str = ""
    result: dict[str, Any] | None = None
    last_id: str = ""

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if isinstance(event.get("session_id"), str):
            self.session_id = event["session_id"]
        if kind == "system" and event.get("subtype") == "init":
            self.model = str(event.get("model") or self.model)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "result":
            self.result = event
            text = str(event.get("result") or "")
            if event.get("is_error") and PROMPT_TOO_LONG_MARK in text.lower():
                self.too_long = True
            if event.get("is_error") and not self.error_text:
                self.error_text = text or str(event.get("subtype") or "error")

    def _assistant(self, event: dict[str, Any]) -> None:
        blocks = _content(event)
        error = event.get("error")
        if error:
            text = _text_of(blocks)
            self.error_text = text or str(error)
            if error == AUTH_FAILED:
                self.auth_failed = True
            if PROMPT_TOO_LONG_MARK in text.lower():
                self.too_long = True
            return  # a synthetic message: no API call, no usage to count
        raw = event.get("message")
        message: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message_id = str(message.get("id") or "")
        if message_id:
            seen = self.usage_by_id.get(message_id, TokenUsage())
            self.usage_by_id[message_id] = seen.max(TokenUsage.from_json(message.get("usage")))
            self.last_id = message_id
        for block in blocks:
            tool_id = str(block.get("id") or "")
            if block.get("type") == "tool_use" and tool_id not in self.seen_tool_ids:
                self.seen_tool_ids.add(tool_id)
                self.tool_calls[str(block.get("name") or "?")] += 1

    def kind(self, *, cancelled: bool = False) -> ResultKind:
        if cancelled:
            return ResultKind.CANCELLED
        if self.auth_failed:
            return ResultKind.NEEDS_LOGIN
        if self.too_long:
            return ResultKind.PROMPT_TOO_LONG
        if self.result is not None and not self.result.get("is_error"):
            return ResultKind.OK
        return ResultKind.FAILED

    def outcome(self, *, cancelled: bool = False, exit_note: str = "") -> TurnOutcome:
        per_id = TokenUsage()
        for usage in self.usage_by_id.values():
            per_id = per_id.plus(usage)
        usage = per_id
        cost, cost_reported, model_usage = 0.0, False, {}
        if self.result is not None:
            usage = per_id.max(TokenUsage.from_json(self.result.get("usage")))
            raw_cost = self.result.get("total_cost_usd")
            if isinstance(raw_cost, int | float) and not isinstance(raw_cost, bool):
                cost, cost_reported = float(raw_cost), True
            raw_models = self.result.get("modelUsage")
            if isinstance(raw_models, dict):
                model_usage = {str(k): v for k, v in raw_models.items() if isinstance(v, dict)}
        kind = self.kind(cancelled=cancelled)
        note = "" if kind is ResultKind.OK else (self.error_text or exit_note)
        return TurnOutcome(
            kind=kind,
            usage=usage,
            cost_usd=cost,
            tool_calls=dict(self.tool_calls),
            session_id=self.session_id,
            model=self.model,
            note=note,
            last_call=self.usage_by_id.get(self.last_id, TokenUsage()),
            cost_reported=cost_reported,
            model_usage=model_usage,
        )
