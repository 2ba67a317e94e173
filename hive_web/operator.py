"""The dashboard acts as the operator through the host core's own op handlers.

Answering a question, sending a message, cancelling or retrying a reminder:
each is one `hive_kit.wire` request handed to ``OperatorCall`` — the same
handler the admin socket runs for `hive` CLI commands, with the operator as
the caller. So the dashboard and the CLI validate alike, publish the same
events and refuse with the same messages. Without a host core (a dashboard
started on its own) these sections answer 503 and say why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel

from hive_kit import wire
from hive_kit.errors import UnavailableError

R = TypeVar("R", bound=BaseModel)
OperatorCall = Callable[[wire.Request], Awaitable[BaseModel]]


async def ask_core(call: OperatorCall | None, request: wire.Request, expect: type[R]) -> R:
    """Run ``request`` as the operator; the response must be ``expect``."""
    if call is None:
        raise UnavailableError(
            f"{request.op_name}: the host core is not connected to this dashboard; run it inside `hive serve`"
        )
    response = await call(request)
    if not isinstance(response, expect):
        raise TypeError(f"{request.op_name} answered {type(response).__name__}, expected {expect.__name__}")
    return response
