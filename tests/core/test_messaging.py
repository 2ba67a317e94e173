"""The broker over real sockets: identity, refusals, wake-up, at-least-once, threads."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hive_kit import wire
from hive_kit.errors import BadRequestError, ForbiddenError, NotFoundError, UserError
from tests.core.conftest import Running


async def test_the_sender_is_the_socket_not_a_field(daemon: Running) -> None:
    tester, peer = daemon.client("tester"), daemon.client("peer")
    await tester.request(wire.Send(to="peer", body="from tester"))
    [message] = (await peer.request(wire.Recv(max=5))).messages
    assert message.sender == "tester"
    # a request naming a sender is refused outright, whatever it says
    with pytest.raises(BadRequestError, match="sender"):
        await daemon.client("coder").request(_RawSend(to="peer", body="x", sender="operator"))


class _RawSend(wire.Send):
    model_config = wire.ConfigDict(extra="allow", frozen=True)


async def test_an_agent_cannot_read_another_agents_inbox(daemon: Running) -> None:
    operator, tester, peer = daemon.client("operator"), daemon.client("tester"), daemon.client("peer")
    await operator.request(wire.Send(to="peer", body="for peer only"))
    assert (await tester.request(wire.Recv(max=32))).messages == []
    assert all(m.body != "for peer only" for m in (await tester.request(wire.Recent(limit=50))).messages)
    # acking someone else's message does nothing and says so
    [mine] = (await peer.request(wire.Recv())).messages
    result = await tester.request(wire.Ack(ids=[mine.id]))
    assert (result.acked, result.unknown) == ([], [mine.id])
    # and the admin-only inbox op is refused on an agent socket
    with pytest.raises(ForbiddenError, match="not available on the agent socket"):
        await tester.request(wire.Inbox())


async def test_refused_recipient_is_told_to_route_through_the_manager(daemon: Running) -> None:
    coder = daemon.client("coder")
    with pytest.raises(ForbiddenError) as refused:
        await coder.request(wire.Send(to="tester", body="hi"))
    assert "coder may not message 'tester'" in str(refused.value)
    assert "to='manager'" in str(refused.value)
    with pytest.raises(ForbiddenError):
        await coder.request(wire.Send(to="*", body="everyone"))
    # the manager always gets through, by alias or by name
    sent = await coder.request(wire.Send(to="manager", body="help"))
    assert sent.recipients == ["boss"]
    await coder.request(wire.Send(to="boss", body="help again"))
    inbox = (await daemon.client("boss").request(wire.Recv(max=5))).messages
    assert [m.body for m in inbox] == ["help", "help again"]


async def test_unknown_recipient_lists_who_can_be_messaged(daemon: Running) -> None:
    with pytest.raises(NotFoundError, match=r"no agent named 'nobody'.*manager, operator"):
        await daemon.client("tester").request(wire.Send(to="nobody", body="x"))
    with pytest.raises(UserError, match="yourself"):
        await daemon.client("tester").request(wire.Send(to="tester", body="x"))


async def test_broadcast_reaches_every_agent_but_the_sender(daemon: Running) -> None:
    sent = await daemon.client("tester").request(wire.Send(to="*", body="all hands"))
    assert sorted(sent.recipients) == ["boss", "coder", "peer"]
    for name in ("boss", "coder", "peer"):
        [m] = (await daemon.client(name).request(wire.Recv())).messages
        assert (m.sender, m.body) == ("tester", "all hands")


async def test_parked_recv_wakes_on_send(daemon: Running) -> None:
    peer = daemon.client("peer")
    parked = asyncio.create_task(peer.request(wire.Recv(wait_seconds=30, max=5)))
    await asyncio.sleep(0.05)
    assert not parked.done()
    await daemon.client("tester").request(wire.Send(to="peer", body="wake up"))
    result = await asyncio.wait_for(parked, 5)  # far less than the 30 s it would park
    assert [m.body for m in result.messages] == ["wake up"]


async def test_recv_with_zero_wait_answers_at_once_and_respects_max(daemon: Running) -> None:
    peer = daemon.client("peer")
    assert (await peer.request(wire.Recv(wait_seconds=0))).messages == []
    for i in range(5):
        await daemon.client("tester").request(wire.Send(to="peer", body=f"m{i}"))
    first = (await peer.request(wire.Recv(max=3))).messages
    rest = (await peer.request(wire.Recv(max=32))).messages
    assert [m.body for m in first + rest] == ["m0", "m1", "m2", "m3", "m4"]


async def test_unacked_messages_come_back_after_the_harness_says_hello(daemon: Running) -> None:
    tester, peer = daemon.client("tester"), daemon.client("peer")
    await tester.request(wire.Send(to="peer", body="one"))
    await tester.request(wire.Send(to="peer", body="two"))
    got = (await peer.request(wire.Recv(max=5))).messages
    await peer.request(wire.Ack(ids=[got[0].id]))
    assert (await peer.request(wire.Recv(max=5))).messages == []
    await peer.request(wire.Hello(pid=123, web_port=8100))  # the harness restarted
    again = (await peer.request(wire.Recv(max=5))).messages
    assert [m.body for m in again] == ["two"]
    assert daemon.daemon.core.harnesses.last_hello("peer").web_port == 8100  # type: ignore[union-attr]


async def test_replies_must_point_at_a_message_the_sender_saw(daemon: Running) -> None:
    tester, peer = daemon.client("tester"), daemon.client("peer")
    sent = await tester.request(wire.Send(to="peer", body="question"))
    reply = await peer.request(wire.Send(to="tester", body="answer", in_reply_to=sent.ids[0]))
    thread = daemon.daemon.core.broker.thread(sent.ids[0])
    assert [m.id for m in thread] == [sent.ids[0], reply.ids[0]]
    with pytest.raises(NotFoundError, match="in_reply_to"):
        await daemon.client("coder").request(wire.Send(to="manager", body="x", in_reply_to=sent.ids[0]))


async def test_operator_inbox_marks_read_and_counts_unread(daemon: Running) -> None:
    operator = daemon.client("operator")
    await daemon.client("tester").request(wire.Send(to="operator", body="status report"))
    status = await operator.request(wire.Status())
    assert status.unread.get("operator") == 1
    assert status.reconciler is None
    assert status.version == wire.VERSION and status.dashboard is None, "`hive doctor` compares these"
    [m] = (await operator.request(wire.Inbox(unread_only=True))).messages
    assert (m.sender, m.body) == ("tester", "status report")
    assert (await operator.request(wire.Inbox(unread_only=True))).messages == []
    assert "operator" not in (await operator.request(wire.Status())).unread


async def test_whoami_names_the_socket_owner(daemon: Running) -> None:
    me = await daemon.client("boss").request(wire.Whoami())
    assert (me.name, me.role) == ("boss", "manager")
    assert me.revision
    op = await daemon.client("operator").request(wire.Whoami())
    assert (op.name, op.role) == ("operator", "operator")


async def test_a_recv_abandoned_while_parked_takes_nothing(daemon: Running) -> None:
    quitter = daemon.client("peer")
    parked = asyncio.create_task(quitter.request(wire.Recv(wait_seconds=30)))
    await asyncio.sleep(0.05)
    parked.cancel()  # the client gives up and closes that connection
    with contextlib.suppress(asyncio.CancelledError):
        await parked
    await asyncio.sleep(0.05)
    await daemon.client("tester").request(wire.Send(to="peer", body="still here"))
    [m] = (await daemon.client("peer").request(wire.Recv(wait_seconds=5))).messages
    assert (m.body, m.delivered_at is not None) == ("still here", True)
    assert daemon.daemon.core.conn.execute(
        "SELECT deliveries FROM messages WHERE id = ?", (m.id,)
    ).fetchone() == (1,)


async def test_answers_stay_under_a_mebibyte_of_text(daemon: Running) -> None:
    big = "x" * (200 * 1024)
    for _ in range(12):
        await daemon.client("tester").request(wire.Send(to="peer", body=big))
    peer = daemon.client("peer")
    sizes = []
    while batch := (await peer.request(wire.Recv(max=32))).messages:
        sizes.append(len(batch))
        assert sum(len(m.body) for m in batch) <= 1024 * 1024
    assert sum(sizes) == 12 and sizes[0] == 5
    recent = (await peer.request(wire.Recent(limit=100))).messages
    assert len(recent) == 5 and recent[-1].id > recent[0].id  # the newest, oldest first
