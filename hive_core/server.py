"""One connection's loop: read a JSON line, check it, run its op, write one answer line.

Nothing a client sends may take the daemon down: every line ends in exactly
one answer (an error for bad JSON, an unknown op, invalid fields, or a line
over ``MAX_LINE_BYTES``), and the connection stays usable. An over-long line
is answered as soon as it passes the limit and the rest of it is skipped, so a
client sending 100 MiB without a newline costs us 1 MiB of buffer, not 100.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from pydantic import BaseModel, ValidationError

from hive_core import wire
from hive_core.core import Caller, HostCore
from hive_core.errors import BadRequestError, ForbiddenError, HiveError, TooLargeError, error_code
from hive_core.ops import ALLOWED_OPS, perform
from hive_core.ops.admin import events_batch
from hive_core.ops.registry import caller_gone

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class _TooLong:
    pass


TOO_LONG = _TooLong()


class LineReader:
    """Lines of at most ``limit`` bytes; an over-long line yields TOO_LONG once and is skipped."""

    def __init__(self, reader: asyncio.StreamReader, limit: int = wire.MAX_LINE_BYTES) -> None:
        self._reader = reader
        self._limit = limit
        self._buf = bytearray()
        self._skipping = False

    async def next(self) -> bytes | _TooLong | None:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                if self._skipping:
                    self._skipping = False
                    continue
                return TOO_LONG if len(line) > self._limit else line
            if len(self._buf) > self._limit:
                self._buf.clear()
                if not self._skipping:
                    self._skipping = True
                    return TOO_LONG
            chunk = await self._reader.read(_CHUNK)
            if not chunk:
                return None
            self._buf += chunk


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"][1:]) or "request"
        parts.append(f"{where}: {err['msg']}")
    return "invalid request: " + "; ".join(parts)


def error_line(exc: BaseException) -> bytes:
    message = str(exc) if isinstance(exc, HiveError) else "internal error in the hive daemon; see its log"
    return wire.encode(wire.ErrorResponse(error=wire.ErrorBody(code=error_code(exc), message=message)))


def parse_request(line: bytes, role: str) -> wire.Request:
    """Validate one line for a caller of ``role``; raises BadRequestError/ForbiddenError."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"not a JSON line ({exc}); send one JSON object per line") from None
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise BadRequestError('a request is a JSON object with a string "op", e.g. {"op": "whoami"}')
    op, allowed = data["op"], ALLOWED_OPS[role]
    if op not in wire.ALL_OPS:
        raise BadRequestError(f"unknown op {op[:64]!r}; this socket accepts: {', '.join(sorted(allowed))}")
    if op not in allowed:
        raise ForbiddenError(f"op {op!r} is not available on the {role} socket")
    try:
        request: wire.Request = wire.REQUEST_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise BadRequestError(describe(exc)) from None
    return request


async def answer(core: HostCore, caller_fn: Callable[[], Caller], role: str, line: bytes) -> bytes:
    try:
        request = parse_request(line, role)
        caller = caller_fn()
        response: BaseModel = await perform(core, caller, request)
        return wire.encode(response)
    except HiveError as exc:
        return error_line(exc)
    except Exception as exc:
        log.exception("request failed on the %s socket: %.200r", role, line)
        return error_line(exc)


async def follow_events(core: HostCore, writer: asyncio.StreamWriter, req: wire.Events) -> None:
    """Stream batches until the client goes away (a write fails) or the daemon stops."""
    cursor = req.since
    while True:
        batch = events_batch(core, cursor, req.limit)
        if batch.events or cursor == req.since:
            writer.write(wire.encode(batch))
            await writer.drain()
        cursor = batch.next_seq
        if not batch.events:
            await core.events.wait_after(cursor)


async def serve_connection(
    core: HostCore,
    caller_fn: Callable[[], Caller],
    role: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    lines = LineReader(reader)
    caller_gone.set(reader.at_eof)
    try:
        while True:
            line = await lines.next()
            if line is None:
                return
            if isinstance(line, _TooLong):
                limit = wire.MAX_LINE_BYTES
                out = error_line(TooLargeError(f"request line over {limit} bytes; the limit is {limit}"))
            elif line.strip() == b"":
                continue
            elif role == "operator" and b'"follow"' in line and _is_follow(line):
                await follow_events(core, writer, wire.Events.model_validate_json(line))
                return
            else:
                out = await answer(core, caller_fn, role, line)
            writer.write(out)
            await writer.drain()
    except (ConnectionError, BrokenPipeError):
        return
    finally:
        writer.close()


def _is_follow(line: bytes) -> bool:
    try:
        req = wire.REQUEST_ADAPTER.validate_json(line)
    except ValidationError:
        return False
    return isinstance(req, wire.Events) and req.follow
