"""What a Messages API response says it used, read off the wire as it streams past (pure, no I/O).

The gateway (``hive_core.gateway``) feeds every chunk of an upstream response
here before passing it on, so the usage it records is what the API said, not
what the agent's harness reports. Two shapes:

- a JSON body (``"stream": false``): the message's ``usage`` object, read once
  the body is complete (bodies larger than ``MAX_JSON`` are not parsed: the
  Messages API never sends one, and a hostile upstream must not make the host
  buffer gigabytes);
- server-sent events: ``message_start`` carries the input side (input, cache
  read, cache creation, and a first output count) and each ``message_delta``
  the cumulative output count (and, on newer APIs, updated input counts).
  Lines are split here, so an event cut across chunks is still read; a line
  longer than ``MAX_LINE`` is skipped, never buffered.

A stream cut short (the agent hung up, the upstream failed) still yields what
was seen: the input was billed as soon as ``message_start`` came.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

MAX_JSON = 8 * 1024 * 1024
MAX_LINE = 1024 * 1024
MODEL_PATTERN = re.compile(r"^[A-Za-z0-9._:/@\[\]-]{1,128}$")
"""What ``hive_kit.wire.ModelUsage.model`` accepts; anything else is recorded as ``unknown``."""
TOKEN_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_creation_tokens",
}
MAX_TOKENS = 1_000_000_000


@dataclass(frozen=True)
class CallUsage:
    """One model call's tokens, as the API reported them."""

    model: str = "unknown"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens


def model_name(value: object, fallback: str = "unknown") -> str:
    text = str(value) if isinstance(value, str) else ""
    return text if MODEL_PATTERN.match(text) else fallback


def _merge(usage: CallUsage, raw: object) -> CallUsage:
    """``usage`` with every token count ``raw`` (an API ``usage`` object) states; others kept."""
    if not isinstance(raw, dict):
        return usage
    changes: dict[str, Any] = {}
    for wire_name, ours in TOKEN_FIELDS.items():
        value = raw.get(wire_name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
            changes[ours] = value
    return replace(usage, **changes) if changes else usage


class UsageMeter:
    """Feed it a response's bytes (``feed``) and ask ``usage()`` at the end (or when cut short)."""

    def __init__(self, *, streaming: bool, requested_model: str = "unknown") -> None:
        self.streaming = streaming
        self._usage = CallUsage(model=model_name(requested_model))
        self._seen = False
        self._buffer = bytearray()
        self._skipping = False  # inside an over-long SSE line
        self._too_big = False

    def feed(self, chunk: bytes) -> None:
        if self.streaming:
            self._feed_sse(chunk)
        elif not self._too_big:
            self._buffer += chunk
            if len(self._buffer) > MAX_JSON:
                self._too_big = True
                self._buffer.clear()

    def usage(self) -> CallUsage | None:
        """What the response said it used; None when it said nothing (an error, a non-message reply)."""
        if not self.streaming and not self._too_big and self._buffer:
            self._read_message(bytes(self._buffer))
            self._buffer.clear()
        return self._usage if self._seen else None

    def _feed_sse(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            piece = chunk[start:end]
            if self._skipping:
                self._skipping = False
            else:
                self._buffer += piece
                self._line(bytes(self._buffer))
            self._buffer.clear()
            start = end + 1
        if not self._skipping:
            self._buffer += chunk[start:]
            if len(self._buffer) > MAX_LINE:
                self._buffer.clear()
                self._skipping = True

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        try:
            event = json.loads(line[5:].strip())
        except ValueError:
            return
        if isinstance(event, dict):
            self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            self._read_message_dict(event["message"])
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            self._usage = _merge(self._usage, event["usage"])
            self._seen = True

    def _read_message(self, body: bytes) -> None:
        try:
            message = json.loads(body)
        except ValueError:
            return
        if isinstance(message, dict):
            self._read_message_dict(message)

    def _read_message_dict(self, message: dict[str, Any]) -> None:
        if not isinstance(message.get("usage"), dict):
            return
        model = model_name(message.get("model"), self._usage.model)
        self._usage = _merge(replace(self._usage, model=model), message["usage"])
        self._seen = True
