"""A parked op cancelled in the very loop turn that asked for it leaves nothing behind.

CI once failed ``test_after_a_daemon_restart_the_harness_says_hello_again_and_keeps_working`` with
"coroutine 'recv' was never awaited": the daemon stopped (``Connection.abort``) in the same loop
turn as a harness's ``recv`` arrived, so the task was cancelled before its first step and the op's
coroutine was dropped unawaited. Real daemon, real socketpair; only the timing is forced.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings

from hive_core.core import Caller
from hive_core.server import Connection
from hive_kit.names import Role

from .conftest import Running


async def test_a_recv_aborted_in_the_turn_it_arrived_is_closed_not_left_unawaited(daemon: Running) -> None:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    core = daemon.daemon.core
    conn = Connection(core, lambda: Caller("coder", Role.AGENT), Role.AGENT)
    transport, _ = await loop.connect_accepted_socket(lambda: conn, ours)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conn.data_received(b'{"op": "recv", "wait_seconds": 30}\n')
        conn.abort()  # the daemon stops before the recv task ever ran
        conn = None  # type: ignore[assignment]
        await asyncio.sleep(0.05)
        gc.collect()
    transport.close()
    theirs.close()
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
