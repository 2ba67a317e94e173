"""The request class → handler table. A handler is ``(core, caller, request) -> response``, async if it waits.

Handlers register by request class, never by op name: ``@handles(wire.Send)``
on a function whose ``req`` is not a ``wire.Send`` is a type error, a class
registered twice fails at import, and ``hive_core.ops`` refuses to import
while any op in ``hive_kit.wire.OPS`` has no handler.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from hive_core.core import Caller, HostCore
from hive_kit import wire

Handler = Callable[[HostCore, Caller, Any], BaseModel | Awaitable[BaseModel]]
HANDLERS: dict[type[wire.Request], Handler] = {}

caller_gone: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar(
    "caller_gone", default=lambda: False
)
"""Set per connection by the server: True once its client has hung up (a parked recv then takes nothing)."""


def _no_connection(release: Callable[[], None]) -> None:
    raise RuntimeError("this op holds something until its connection closes; call it over a socket")


on_hangup: contextvars.ContextVar[Callable[[Callable[[], None]], None]] = contextvars.ContextVar(
    "on_hangup", default=_no_connection
)
"""Set per connection by the server: register a callback run once when its client hangs up
(a turn slot is given back that way, whether the harness closed the connection or died)."""

R = TypeVar("R", bound=wire.Request)
T = TypeVar("T", bound=BaseModel | Awaitable[BaseModel])


def handles(
    request: type[R],
) -> Callable[[Callable[[HostCore, Caller, R], T]], Callable[[HostCore, Caller, R], T]]:
    """Register the decorated function as the one handler of ``request``."""

    def register(fn: Callable[[HostCore, Caller, R], T]) -> Callable[[HostCore, Caller, R], T]:
        if request in HANDLERS:
            raise TypeError(f"op {request.op_name!r} already has a handler: {HANDLERS[request].__qualname__}")
        HANDLERS[request] = fn
        return fn

    return register


def unhandled() -> list[str]:
    """Ops of the wire with no handler registered (empty once every ops module is imported)."""
    return [cls.op_name for cls in wire.REQUEST_TYPES if cls not in HANDLERS]
