"""One connection: read JSON lines, check each, run its op, write one answer line per request, in order.

Nothing a client sends may take the daemon down: every line ends in exactly
one answer (an error for bad JSON, an unknown op, invalid fields, or a line
over ``MAX_LINE_BYTES``), and the connection stays usable. An over-long line
is answered as soon as it passes the limit and the rest of it is skipped, so a
client sending 100 MiB without a newline costs us 1 MiB of buffer, not 100.

Why a protocol and not streams: this is the broker's hot path. Most ops
(send, ack, ask, …) are plain functions that never wait; they run right in
``data_received``, with no task per request, and their answer is handed to the
group commit (``Batch.after_commit``), which writes it the moment the loop
turn's transaction lands: never before, so no client is told "ok" about a
write that is not durable. An op that may wait (a parked ``recv``, a proposal
committed to git in a thread) runs in a task, and the connection reads no
further line until it has answered. ``events`` with ``follow`` turns the
connection into a stream of batches until the client hangs up.

Flow control: when the client stops reading and our send buffer fills,
reading (and handling already-buffered lines) pauses until it drains, so a
client pipelining requests without reading answers cannot make us buffer
without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel, ValidationError

from hive_core.core import Caller, HostCore
from hive_core.ops import start
from hive_core.ops.admin import events_batch
from hive_core.ops.registry import caller_gone, on_hangup
from hive_kit import wire
from hive_kit.errors import BadRequestError, ForbiddenError, HiveError, TooLargeError, error_code
from hive_kit.names import Role

log = logging.getLogger(__name__)


class _TooLong:
    pass


TOO_LONG = _TooLong()


class LineSplitter:
    """Lines of at most ``limit`` bytes out of arbitrary chunks; an over-long line yields TOO_LONG once
    (as soon as the buffer passes the limit) and the rest of it is skipped."""

    def __init__(self, limit: int = wire.MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._pos = 0  # start of the unread part of _buf: lines are sliced off without moving bytes
        self._skipping = False

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next(self) -> bytes | _TooLong | None:
        """The next complete line (without its newline), TOO_LONG, or None until more bytes come."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 1
                if self._skipping:
                    self._skipping = False
                    continue
                return TOO_LONG if len(line) > self._limit else line
            if len(self._buf) - self._pos > self._limit:
                self._buf.clear()
                self._pos = 0
                if not self._skipping:
                    self._skipping = True
                    return TOO_LONG
            return None


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"][1:]) or "request"
        parts.append(f"{where}: {err['msg']}")
    return "invalid request: " + "; ".join(parts)


def error_line(exc: BaseException) -> bytes:
    message = str(exc) if isinstance(exc, HiveError) else "internal error in the hive daemon; see its log"
    return wire.encode(wire.ErrorResponse(error=wire.ErrorBody(code=error_code(exc), message=message)))


def parse_request(line: bytes, role: Role) -> wire.Request:
    """Validate one line for a caller of ``role``; raises BadRequestError/ForbiddenError.

    A well-formed request is parsed in one pass (pydantic straight from the bytes);
    only a line that fails it takes the slow path below, which says what is wrong.
    """
    try:
        request = wire.REQUEST_ADAPTER.validate_json(line)
    except ValidationError:
        pass
    else:
        _check_role(request.op_name, type(request), role)
        return request
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"not a JSON line ({exc}); send one JSON object per line") from None
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise BadRequestError('a request is a JSON object with a string "op", e.g. {"op": "whoami"}')
    op = data["op"]
    _check_role(op, wire.REQUEST_BY_OP.get(op), role)
    try:
        return wire.REQUEST_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise BadRequestError(describe(exc)) from None


def _check_role(op: str, request: type[wire.Request] | None, role: Role) -> None:
    if request is None:
        allowed = ", ".join(sorted(wire.ops_for(role)))
        raise BadRequestError(f"unknown op {op[:64]!r}; this socket accepts: {allowed}")
    if role not in request.roles:
        raise ForbiddenError(f"op {op!r} is not available on the {role} socket")


def _is_follow(line: bytes) -> bool:
    try:
        req = wire.REQUEST_ADAPTER.validate_json(line)
    except ValidationError:
        return False
    return isinstance(req, wire.Events) and req.follow


class Connection(asyncio.Protocol):
    """One client of one socket; every request on it is from ``caller_fn()``."""

    def __init__(self, core: HostCore, caller_fn: Callable[[], Caller], role: Role) -> None:
        self.core = core
        self.caller_fn = caller_fn
        self.role = role
        self._lines = LineSplitter()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None  # the waiting op (or the event stream) in flight
        self._cancel_on_hangup = False
        self._leave_on_eof = False  # a turn-slot wait: EOF means the asker is gone (recv still answers)
        self._outbox: list[bytes] = []  # answers waiting for the group commit
        self._eof = False
        self._closed = False
        self._write_paused = False
        self._writable: asyncio.Event | None = None
        self._at_hangup: list[Callable[[], None]] = []  # e.g. give back a turn slot
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # ---- transport callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._lines.feed(data)
        self._process()

    def eof_received(self) -> bool:
        """The client sends no more: answer what it asked, then close (keep the transport open till then)."""
        self._eof = True
        if self._task is not None and self._leave_on_eof and self._transport is not None:
            self._transport.close()  # a wait for a turn slot: nobody is left to hand it to
            return True
        self._process()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._task is not None and self._cancel_on_hangup:
            self._task.cancel()  # a parked recv or an event stream: nothing half-done to lose
        if self._writable is not None:
            self._writable.set()
        self._hung_up()
        if not self.closed.done():
            self.closed.set_result(None)

    def _at_hangup_add(self, callback: Callable[[], None]) -> None:
        if self._closed:
            callback()
        else:
            self._at_hangup.append(callback)

    def _hung_up(self) -> None:
        callbacks, self._at_hangup = self._at_hangup, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a hang-up callback failed on the %s socket", self.role)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._writable is not None:
            self._writable.set()
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()
        self._process()

    # ---- requests ----------------------------------------------------------------------------

    def gone(self) -> bool:
        """The client hung up (or said it sends nothing more): a parked recv then takes nothing."""
        return self._closed or self._eof

    def _process(self) -> None:
        while self._task is None and not self._closed and not self._write_paused:
            line = self._lines.next()
            if line is None:
                break
            try:
                self._handle(line)
            except Exception as exc:  # a bug of ours: the client still gets its answer
                log.exception("request failed on the %s socket: %.200r", self.role, line)
                self._reply(error_line(exc))
        self._close_if_done()

    def _handle(self, line: bytes | _TooLong) -> None:
        if isinstance(line, _TooLong):
            limit = wire.MAX_LINE_BYTES
            self._reply(error_line(TooLargeError(f"request line over {limit} bytes; the limit is {limit}")))
            return
        if line.strip() == b"":
            return
        if self.role is Role.OPERATOR and b'"follow"' in line and _is_follow(line):
            self._spawn(self._follow(wire.Events.model_validate_json(line)), cancel_on_hangup=True)
            return
        try:
            request = parse_request(line, self.role)
            result = start(self.core, self.caller_fn(), request)
        except HiveError as exc:
            self._reply(error_line(exc))
            return
        if isinstance(result, BaseModel):
            self._reply(wire.encode(result))
        else:
            parks = isinstance(request, wire.Recv | wire.TurnSlot)
            self._leave_on_eof = isinstance(request, wire.TurnSlot)
            self._spawn(self._finish(result, line), cancel_on_hangup=parks)
            # A task cancelled before its first step (a hang-up or a daemon stop in the same loop
            # turn) never awaits the op: close it then, or Python warns it was never awaited.
            assert self._task is not None
            self._task.add_done_callback(lambda _: result.close())

    def _spawn(self, coro: Coroutine[Any, Any, None], *, cancel_on_hangup: bool) -> None:
        self._cancel_on_hangup = cancel_on_hangup
        self._task = asyncio.get_running_loop().create_task(coro)

    async def _finish(self, pending: Coroutine[Any, Any, BaseModel], line: bytes) -> None:
        caller_gone.set(self.gone)
        on_hangup.set(self._at_hangup_add)
        try:
            response = await pending
            await self.core.batch.durable()
            out = wire.encode(response)
        except HiveError as exc:
            out = error_line(exc)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            log.exception("request failed on the %s socket: %.200r", self.role, line)
            out = error_line(exc)
        self._task = None
        self._write(out)
        self._process()

    async def _follow(self, req: wire.Events) -> None:
        """Stream batches until the client goes away or the daemon stops."""
        cursor = req.since
        while not self._closed:
            batch = events_batch(self.core, cursor, req.limit)
            if batch.events or cursor == req.since:
                self._write(wire.encode(batch))
                while self._write_paused and not self._closed:
                    self._writable = asyncio.Event()
                    await self._writable.wait()
            cursor = batch.next_seq
            if not batch.events:
                await self.core.events.wait_after(cursor)

    # ---- answers -----------------------------------------------------------------------------

    def _reply(self, out: bytes) -> None:
        """Answer now, or (while this loop turn has writes in flight) once they are committed.

        Answers held for one commit leave in one write: a client that pipelines
        requests costs one syscall per commit, not one per request.
        """
        if self.core.batch.pending:
            if not self._outbox:
                self.core.batch.after_commit(self._committed)
            self._outbox.append(out)
        else:
            self._write(out)

    def _committed(self, error: BaseException | None) -> None:
        out, self._outbox = self._outbox, []
        self._write(b"".join(out) if error is None else error_line(error) * len(out))
        self._close_if_done()

    def _write(self, out: bytes) -> None:
        if not self._closed and self._transport is not None:
            self._transport.write(out)

    def _close_if_done(self) -> None:
        """After EOF, close once every line read is answered (``_process`` has run them all unless a
        task or a full send buffer holds it, and both call it again when they clear)."""
        done = self._eof and self._task is None and not self._outbox and not self._write_paused
        if done and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """The daemon is stopping: cancel what is in flight and drop the connection."""
        if self._task is not None:
            self._task.cancel()
        if self._transport is not None:
            self._transport.close()
        self._hung_up()
