"""send, recv, ack, recent, inbox: the broker seen from a socket."""

from __future__ import annotations

from hive_core.core import Caller, HostCore
from hive_core.ops.registry import caller_gone, handles
from hive_core.routing import check_allowed, resolve_recipients
from hive_kit import wire
from hive_kit.errors import NotFoundError, UserError


@handles(wire.Send)
def send(core: HostCore, caller: Caller, req: wire.Send) -> wire.SendResult:
    state = core.desired.state
    recipients = resolve_recipients(state, caller.name, req.to)
    check_allowed(state, caller.name, req.to, recipients)
    if not recipients:
        raise UserError("nobody to broadcast to: desired state has no other agents")
    if req.in_reply_to is not None:
        original = core.broker.get(req.in_reply_to)
        if original is None or caller.name not in (original.sender, original.recipient):
            raise NotFoundError(
                f"in_reply_to={req.in_reply_to} is not a message you sent or received; "
                "use the id of a message from recv or recent"
            )
    sent = core.broker.send(caller.name, recipients, req.body, req.in_reply_to)
    return wire.SendResult(ids=[m.id for m in sent], recipients=[m.recipient for m in sent])


@handles(wire.Recv)
async def recv(core: HostCore, caller: Caller, req: wire.Recv) -> wire.Messages:
    messages = await core.broker.recv(caller.name, req.wait_seconds, req.max, gone=caller_gone.get())
    return wire.Messages(messages=messages)


@handles(wire.Ack)
def ack(core: HostCore, caller: Caller, req: wire.Ack) -> wire.AckResult:
    acked, unknown = core.broker.ack(caller.name, req.ids)
    return wire.AckResult(acked=acked, unknown=unknown)


@handles(wire.Recent)
def recent(core: HostCore, caller: Caller, req: wire.Recent) -> wire.Messages:
    return wire.Messages(messages=core.broker.recent(caller.name, req.limit))


@handles(wire.Inbox)
def inbox(core: HostCore, caller: Caller, req: wire.Inbox) -> wire.Messages:
    messages = core.broker.inbox(caller.name, req.limit, unread_only=req.unread_only)
    if req.mark_read:
        core.broker.mark_read(caller.name, [m.id for m in messages if m.acked_at is None])
    return wire.Messages(messages=messages)
