"""Op handlers, one module per area; importing this package fills ``registry.HANDLERS``.

Importing it fails if an op of ``hive_kit.wire.OPS`` has no handler, so a
request the wire accepts can never reach the host unhandled.

Each handler is ``(core, caller, request) -> response``, a plain function
unless the op may wait (a parked recv, a git commit in a thread): then it is
``async``. Plain ones run inline in the socket server, without a task. The caller is
already fixed by the socket and the request already validated against
``hive_kit.wire``. Authorisation that depends on the object (whose question,
whose reminder) happens here; which ops a socket may call at all is decided
by the request's ``roles`` (``hive_kit.wire.OPS``), checked here and, with
socket-specific wording, by the connection loop (``hive_core.server``).
"""

import inspect
from typing import Any

from hive_core.core import Caller, HostCore
from hive_core.ops import admin, agent, asking, committing, managing, messaging, reading, reminding
from hive_core.ops.registry import HANDLERS, unhandled
from hive_kit import wire
from hive_kit.errors import ForbiddenError

if unhandled():
    raise ImportError(f"hive_core.ops: no handler for the wire's ops {', '.join(unhandled())}")


def start(core: HostCore, caller: Caller, request: wire.Request) -> Any:
    """Run one request as ``caller``: its response, or a coroutine giving it for an op that may wait.

    Its writes are not committed yet: answer only after ``core.batch`` commits
    (``perform`` does that; the socket server uses ``Batch.after_commit``).
    """
    if caller.role not in request.roles:
        raise ForbiddenError(f"op {request.op_name!r} is not available to the {caller.role}")
    return HANDLERS[type(request)](core, caller, request)


async def perform(core: HostCore, caller: Caller, request: wire.Request) -> Any:
    """Run one request as ``caller`` and return its response once its writes are committed.

    For in-process callers (the dashboard acts as ``OPERATOR_CALLER``):
    ``await perform(core, OPERATOR_CALLER, wire.Send(to="coder", body="hi"))``.
    """
    response = start(core, caller, request)
    if inspect.isawaitable(response):
        response = await response
    await core.batch.durable()  # never say "ok" before the write is committed
    return response


__all__ = [
    "HANDLERS",
    "admin",
    "agent",
    "asking",
    "committing",
    "managing",
    "messaging",
    "perform",
    "reading",
    "reminding",
    "start",
]
