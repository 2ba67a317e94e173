"""Talking to the host over a unix socket: an asyncio client and a blocking one for the CLI.

Both speak ``hive_kit.wire``: one request line, one response line, in order.
The async client pipelines: its requests share one connection, many in
flight, and the answers come back in the order asked (Redis-style). A ``recv``
that may park would hold that line up, so it takes a connection from a small
pool instead; such a connection whose request was cancelled or timed out is
closed rather than reused (its answer may still be in flight). ``ok: false``
answers are raised as the same ``hive_kit.errors`` class the host raised.

Inside a sandbox the socket is ``/run/hive/hive.sock`` (``hive_kit.launch``). In a pod on
another machine, ``HIVE_BROKER_URL`` names the daemon's TLS listener instead and each new
connection first shows the pod's ServiceAccount token (``hive_kit.broker``); past that hello
the protocol is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hive_kit.broker import BrokerEndpoint, open_broker
from hive_kit.errors import BadRequestError, HiveError, UnavailableError, error_from_wire
from hive_kit.launch import SANDBOX_SOCKET
from hive_kit.wire import (
    MAX_LINE_BYTES,
    Events,
    EventsBatch,
    Recv,
    Request,
    SlotGranted,
    TurnSlot,
    encode_request,
)

_OK_PREFIX = b'{"ok":true'  # how the host's encoder starts every success line
_READ_LIMIT = 16 * MAX_LINE_BYTES  # answers carry ≤ 1 MiB of text, which JSON escaping may grow ~6x


def _unavailable(path: Path | str, exc: OSError) -> UnavailableError:
    return UnavailableError(
        f"cannot reach the hive daemon at {path} ({exc.strerror or exc}); is `hive serve` running?",
        delay=1.0,
    )


def parse_response(req: Request, line: bytes) -> Any:
    """The typed answer to ``req``; raises the host's error for ``ok: false``."""
    if not line:
        raise UnavailableError("the hive daemon closed the connection before answering; retry", delay=1.0)
    if line.startswith(_OK_PREFIX):  # the common case: one parse, straight into the typed answer
        return req.response.model_validate_json(line)
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise HiveError(f"the hive daemon sent a line that is not JSON: {line[:200]!r}") from exc
    if not isinstance(data, dict):
        raise HiveError(f"the hive daemon sent {type(data).__name__}, expected an object")
    if data.get("ok") is not True:
        error = data.get("error") or {}
        raise error_from_wire(str(error.get("code", "internal")), str(error.get("message", data)))
    return req.response.model_validate(data)


class _Conn:
    """A connection for one request at a time (a parked ``recv``, which holds it until answered)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def roundtrip(self, line: bytes) -> bytes:
        self.writer.write(line)
        await self.writer.drain()
        return await self.reader.readline()

    def close(self) -> None:
        self.writer.close()


class _Pipe:
    """A connection carrying many requests at once: the host answers in order, so answers are
    matched to requests first in, first out. Requests made in the same loop turn leave in one write.

    A request that is cancelled or times out keeps its place in line; its answer,
    when it comes, is read and dropped, so the answers after it stay matched.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: Path | str) -> None:
        self._reader = reader
        self._writer = writer
        self._path = path
        self._waiting: deque[asyncio.Future[bytes]] = deque()
        self._out: list[bytes] = []
        self.broken = False
        self._loop = asyncio.get_running_loop()
        self._answers = self._loop.create_task(self._read_answers())

    def submit(self, line: bytes) -> asyncio.Future[bytes]:
        answer: asyncio.Future[bytes] = self._loop.create_future()
        self._waiting.append(answer)
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(line)
        return answer

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self.broken:
            self._writer.write(b"".join(out))

    async def _read_answers(self) -> None:
        error: HiveError
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    error = UnavailableError(
                        "the hive daemon closed the connection before answering; retry", delay=1.0
                    )
                    break
                answer = self._waiting.popleft()
                if not answer.done():
                    answer.set_result(line)
        except OSError as exc:
            error = _unavailable(self._path, exc)
        except (ValueError, asyncio.LimitOverrunError) as exc:  # an answer over the read limit
            error = HiveError(f"the hive daemon sent an answer this client cannot read: {exc}")
        self.broken = True
        self._writer.close()
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(error)

    def close(self) -> None:
        self.broken = True
        self._answers.cancel()
        self._writer.close()


def _holds_connection(req: Request) -> bool:
    """A request the host may park (``recv`` with a wait): it gets a connection of its own, so the
    requests pipelined behind it are not held up."""
    return isinstance(req, Recv) and bool(req.wait_seconds)


class _FromEnv:
    pass


_FROM_ENV = _FromEnv()


class HiveClient:
    """An asyncio client for one socket. ``await client.request(Send(to=..., body=...))``.

    Requests are pipelined on one connection (many in flight, answered in order);
    a ``recv`` that may park takes a connection from a small pool instead.
    """

    def __init__(
        self,
        path: Path | str = SANDBOX_SOCKET,
        *,
        pool_size: int = 4,
        broker: BrokerEndpoint | _FromEnv | None = _FROM_ENV,
    ) -> None:
        """``broker``: the TLS broker to use instead of ``path``; by default ``HIVE_BROKER_URL``
        (``hive_kit.broker``) if set, else the unix socket."""
        self.broker = BrokerEndpoint.from_env(os.environ) if isinstance(broker, _FromEnv) else broker
        self.path = Path(path)
        self.where = self.broker.where if self.broker is not None else str(self.path)
        self._idle: list[_Conn] = []
        self._pool_size = pool_size
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Task[_Pipe] | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.broker is not None:
            return await open_broker(self.broker, limit=_READ_LIMIT)
        try:
            return await asyncio.open_unix_connection(str(self.path), limit=_READ_LIMIT)
        except OSError as exc:
            raise _unavailable(self.path, exc) from exc

    async def _connect(self) -> _Conn:
        return _Conn(*await self._open())

    async def _pipeline(self) -> _Pipe:
        if self._pipe is not None and not self._pipe.broken:
            return self._pipe
        if self._connecting is None or self._connecting.done():
            # one connect for every caller waiting on it; a caller cancelled meanwhile does not cancel it
            self._connecting = asyncio.get_running_loop().create_task(self._open_pipe())
            self._connecting.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(self._connecting)

    async def _open_pipe(self) -> _Pipe:
        reader, writer = await self._open()
        self._pipe = _Pipe(reader, writer, self.where)
        return self._pipe

    async def request(self, req: Request, *, timeout: float | None = None) -> Any:
        """Send ``req``; returns an instance of ``type(req).response``.

        ``timeout`` bounds the whole exchange; leave it None for a parked ``recv``
        (the host answers by ``wait_seconds`` anyway).
        """
        if _holds_connection(req):
            return parse_response(req, await self._alone(req, timeout))
        pipe = await self._pipeline()
        line = await asyncio.wait_for(pipe.submit(encode_request(req)), timeout)
        return parse_response(req, line)

    async def _alone(self, req: Request, timeout: float | None) -> bytes:
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            line = await asyncio.wait_for(conn.roundtrip(encode_request(req)), timeout)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OSError):
                raise _unavailable(self.where, exc) from exc
            raise
        if line and len(self._idle) < self._pool_size:
            self._idle.append(conn)  # answered in full: still in step, even for an error answer
        else:
            conn.close()
        return line

    async def events(self, since: int = 0, *, follow: bool = True) -> AsyncIterator[EventsBatch]:
        """Batches of events after ``since`` (admin socket only); with ``follow`` never ends."""
        conn = await self._connect()
        req = Events(since=since, follow=follow)
        try:
            conn.writer.write(encode_request(req))
            await conn.writer.drain()
            while True:
                batch: EventsBatch = parse_response(req, await conn.reader.readline())
                yield batch
                if not follow:
                    return
        finally:
            conn.close()

    @asynccontextmanager
    async def turn_slot(self, *, wait: bool = False) -> AsyncIterator[SlotGranted]:
        """Wait for a turn slot (the host queues askers first come, first served) and hold it for the
        ``async with`` block: the slot is bound to a connection of its own, given back when it closes.

        ``wait``: while the agent is paused for its budget, be held by the host until it may run
        (else ``BudgetPausedError`` at once)."""
        conn = await self._connect()
        req = TurnSlot(wait=wait)
        try:
            try:
                line = await conn.roundtrip(encode_request(req))
            except OSError as exc:
                raise _unavailable(self.where, exc) from exc
            yield parse_response(req, line)
        finally:
            conn.close()

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    async def __aenter__(self) -> HiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class SyncClient:
    """A blocking client for the CLI: one connection, one request at a time."""

    def __init__(self, path: Path | str, *, timeout: float | None = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None

    def _ensure(self) -> Any:
        if self._file is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                sock.close()
                raise _unavailable(self.path, exc) from exc
            self._sock, self._file = sock, sock.makefile("rwb")
        return self._file

    def request(self, req: Request) -> Any:
        stream = self._ensure()
        try:
            stream.write(encode_request(req))
            stream.flush()
            line = stream.readline(_READ_LIMIT)
        except OSError as exc:
            self.close()
            raise _unavailable(self.path, exc) from exc
        return parse_response(req, line)

    def events(self, since: int = 0, *, follow: bool = False) -> Iterator[EventsBatch]:
        stream = self._ensure()
        if follow and self._sock is not None:
            self._sock.settimeout(None)
        req = Events(since=since, follow=follow)
        stream.write(encode_request(req))
        stream.flush()
        while True:
            yield parse_response(req, stream.readline(_READ_LIMIT))
            if not follow:
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
            if self._sock is not None:
                self._sock.close()
        self._sock = self._file = None

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BadRequestError", "HiveClient", "SyncClient", "parse_response"]
