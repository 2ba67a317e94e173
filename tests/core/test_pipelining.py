"""Many requests in flight on one connection: answers come back in order, matched to their requests.

The in-process daemon (``daemon`` fixture) serves real unix sockets; the client
is ``hive_kit.client.HiveClient``, which pipelines, and raw sockets where the
test needs to control the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from hive_kit import wire
from hive_kit.errors import NotFoundError, UnavailableError
from tests.core.conftest import Running

pytestmark = pytest.mark.asyncio


async def test_a_hundred_concurrent_sends_on_one_client_each_get_their_own_answer(daemon: Running) -> None:
    tester, peer = daemon.client("tester"), daemon.client("peer")
    bodies = [f"message {i}" for i in range(100)]
    results = await asyncio.gather(*(tester.request(wire.Send(to="peer", body=b)) for b in bodies))
    ids = [r.ids[0] for r in results]
    assert len(set(ids)) == 100
    got = {m.id: m.body for m in (await peer.request(wire.Recent(limit=200))).messages}
    # each caller was handed the id of the message it sent, not a neighbour's
    assert [got[i] for i in ids] == bodies


async def test_an_error_between_pipelined_requests_goes_to_the_request_that_caused_it(
    daemon: Running,
) -> None:
    tester = daemon.client("tester")
    outcomes = await asyncio.gather(
        tester.request(wire.Send(to="peer", body="first")),
        tester.request(wire.Send(to="nobody-here", body="lost")),
        tester.request(wire.Whoami()),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], wire.SendResult)
    assert isinstance(outcomes[1], NotFoundError) and "nobody-here" in str(outcomes[1])
    assert isinstance(outcomes[2], wire.WhoamiResult) and outcomes[2].name == "tester"


async def test_a_cancelled_request_does_not_shift_the_answers_after_it(daemon: Running) -> None:
    """Its answer still comes (the daemon did the work) and is dropped; the next caller gets its own."""
    tester = daemon.client("tester")
    await tester.request(wire.Whoami())  # connected: the cancel below hits a request on the wire
    first = asyncio.ensure_future(tester.request(wire.Send(to="peer", body="cancelled while in flight")))
    second = asyncio.ensure_future(tester.request(wire.Whoami()))
    await asyncio.sleep(0)  # both are written
    first.cancel()
    who = await second
    assert who.name == "tester"
    third = await tester.request(wire.Send(to="peer", body="after"))
    assert third.recipients == ["peer"]


async def test_callers_waiting_on_a_connect_survive_one_of_them_being_cancelled(daemon: Running) -> None:
    tester = daemon.client("tester")
    first = asyncio.ensure_future(tester.request(wire.Whoami()))
    second = asyncio.ensure_future(tester.request(wire.Whoami()))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).name == "tester"


async def test_a_parked_recv_does_not_hold_up_sends_from_the_same_client(daemon: Running) -> None:
    peer, tester = daemon.client("peer"), daemon.client("tester")
    parked = asyncio.ensure_future(peer.request(wire.Recv(wait_seconds=30)))
    await asyncio.sleep(0.05)
    # the same client keeps working while its recv is parked
    assert (await peer.request(wire.Whoami())).name == "peer"
    await tester.request(wire.Send(to="peer", body="wake up"))
    got = await asyncio.wait_for(parked, 5)
    assert [m.body for m in got.messages] == ["wake up"]


async def test_the_client_reconnects_after_the_daemon_drops_its_connection(daemon: Running) -> None:
    tester = daemon.client("tester")
    assert (await tester.request(wire.Whoami())).name == "tester"
    listener = daemon.daemon.sockets.agents["tester"]  # type: ignore[union-attr]
    for conn in list(listener._conns):
        conn.abort()
    await asyncio.sleep(0.05)
    assert (await tester.request(wire.Whoami())).name == "tester"


async def test_requests_in_flight_when_the_connection_drops_fail_as_unavailable(daemon: Running) -> None:
    tester = daemon.client("tester")
    await tester.request(wire.Whoami())
    pipe = tester._pipe
    assert pipe is not None
    pending = pipe.submit(wire.encode_request(wire.Whoami()))
    pipe._writer.transport.abort()  # the line is cut before the answer comes back
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(pending, 5)


def _raw(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    return sock


def _answers(sock: socket.socket) -> list[dict[str, object]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return [json.loads(line) for line in data.splitlines()]


async def test_lines_written_at_once_are_answered_in_order_even_when_the_client_half_closes(
    daemon: Running,
) -> None:
    """A client may write all its requests, shut down its sending side, then read: every answer comes,
    in order, and then the daemon closes."""
    lines = [
        b'{"op": "send", "to": "peer", "body": "one"}',
        b"not json",
        b'{"op": "whoami"}',
        b'{"op": "send", "to": "peer", "body": "two"}',
        b'{"op": "no_such_op"}',
    ]

    def exchange() -> list[dict[str, object]]:
        sock = _raw(str(daemon.layout.agent_socket("tester")))
        try:
            sock.sendall(b"\n".join(lines) + b"\n")
            sock.shutdown(socket.SHUT_WR)
            return _answers(sock)
        finally:
            sock.close()

    answers = await asyncio.to_thread(exchange)
    assert [a["ok"] for a in answers] == [True, False, True, True, False]
    assert answers[1]["error"]["code"] == "bad_request"  # type: ignore[index]
    assert answers[2]["name"] == "tester"
    recent = await daemon.client("peer").request(wire.Recent(limit=10))
    assert [m.body for m in recent.messages] == ["one", "two"]


async def test_a_client_that_never_reads_its_answers_is_paused_not_buffered_without_bound(
    daemon: Running,
) -> None:
    """Flow control: 60 pipelined ``recent`` requests whose answers are ~800 kB each (48 MB in all),
    and a client that does not read. The daemon stops answering once its send buffer to that client is
    full, so it holds a few MB for it, not 48; it keeps serving everyone else; and when the client
    reads, every answer comes."""
    tester, peer = daemon.client("tester"), daemon.client("peer")
    for _ in range(4):
        await tester.request(wire.Send(to="peer", body="x" * 200_000))
    count = 60
    sock = _raw(str(daemon.layout.agent_socket("peer")))
    try:
        sock.sendall(b'{"op": "recent", "limit": 4}\n' * count)
        await asyncio.sleep(0.5)
        [conn] = [c for c in daemon.daemon.sockets.agents["peer"]._conns if c._lines._buf]  # type: ignore[union-attr]
        held = conn._transport.get_write_buffer_size()  # type: ignore[union-attr]
        assert held < 16 * 1024 * 1024, f"the daemon buffered {held} bytes for a client that does not read"
        assert (await peer.request(wire.Whoami())).name == "peer"

        def read_answers() -> int:
            lines = 0
            while lines < count:
                chunk = sock.recv(1 << 20)
                assert chunk, "the daemon closed the connection early"
                lines += chunk.count(b"\n")
            return lines

        assert await asyncio.to_thread(read_answers) == count
    finally:
        sock.close()
