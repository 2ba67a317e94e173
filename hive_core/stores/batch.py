"""Group commit: every write made during one turn of the event loop shares one sqlite commit.

Why: a commit costs ~100 µs here even without fsync (WAL append and index
update), and a message costs three writes (send, deliver, ack). Batching the
writes of every request handled in the same loop turn into one transaction
keeps per-message cost flat under load. Durability is unchanged where it
matters: the connection loop awaits ``durable()`` before it answers, so no
client is told "ok" before its write is committed, and a crash before the
commit loses only writes nobody was told about.

Each ``write()`` block is still all-or-nothing on its own (an apsw
``with conn`` inside the batch is a SAVEPOINT). Without a running loop
(scripts, sync tests) a ``write()`` block commits by itself, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable

import apsw

log = logging.getLogger(__name__)

_BATCHES: weakref.WeakKeyDictionary[apsw.Connection, Batch] = weakref.WeakKeyDictionary()


def batch_for(conn: apsw.Connection) -> Batch:
    """The one Batch of ``conn`` (two would both try to BEGIN)."""
    batch = _BATCHES.get(conn)
    if batch is None:
        batch = _BATCHES[conn] = Batch(conn)
    return batch


class _Write:
    """``with batch.write():`` — opens the turn's transaction if needed, then a savepoint."""

    __slots__ = ("_batch",)

    def __init__(self, batch: Batch) -> None:
        self._batch = batch

    def __enter__(self) -> None:
        self._batch.begin()
        self._batch.conn.__enter__()

    def __exit__(self, *exc: object) -> bool | None:
        return self._batch.conn.__exit__(*exc)  # type: ignore[arg-type]


class Batch:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self._open = False  # a transaction of this loop turn is open and its commit scheduled
        self._callbacks: list[Callable[[BaseException | None], None]] = []
        self._write = _Write(self)

    @property
    def pending(self) -> bool:
        """True while this loop turn's transaction is open (its commit is scheduled)."""
        return self._open

    def after_commit(self, callback: Callable[[BaseException | None], None]) -> None:
        """Call ``callback(None)`` once the open transaction commits (``callback(error)`` if it fails),
        in the order registered. The socket server sends its answers here: no task per request."""
        self._callbacks.append(callback)

    def write(self) -> contextlib.AbstractContextManager[None]:
        """A block of writes that is all-or-nothing and part of this loop turn's commit."""
        return self._write

    def begin(self) -> None:
        """Open this loop turn's transaction if none is open (and schedule its commit).

        Enough on its own for one statement, which sqlite makes atomic by itself;
        without a running loop the statement autocommits, as before.
        """
        if self._open or self.conn.in_transaction:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._open = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Commit the open batch now (the loop does this once per turn; ``close`` does it last)."""
        if not self._open:
            return
        self._open = False
        callbacks, self._callbacks = self._callbacks, []
        error: apsw.Error | None = None
        try:
            self.conn.execute("COMMIT")
        except apsw.Error as exc:
            log.error("group commit failed; the batch was rolled back: %s", exc)
            with contextlib.suppress(apsw.Error):
                self.conn.execute("ROLLBACK")
            error = exc
        for callback in callbacks:
            try:
                callback(error)
            except Exception:
                log.exception("after-commit callback %r failed", callback)

    async def durable(self) -> None:
        """Return once every write made so far is committed (raise the commit's error if it failed)."""
        if not self._open:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None) -> None:
            if waiter.done():  # the awaiting task was cancelled
                return
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

        self.after_commit(settle)
        await waiter
