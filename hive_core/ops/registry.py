"""The op → handler table. A handler is ``(core, caller, request) -> response``; async if it may wait."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from hive_core.core import Caller, HostCore

Handler = Callable[[HostCore, Caller, Any], BaseModel | Awaitable[BaseModel]]
HANDLERS: dict[str, Handler] = {}

caller_gone: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar(
    "caller_gone", default=lambda: False
)
"""Set per connection by the server: True once its client has hung up (a parked recv then takes nothing)."""

F = TypeVar("F", bound=Handler)


def handles(op: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        HANDLERS[op] = fn
        return fn

    return register
