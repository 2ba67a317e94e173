"""The op → handler table. Handlers are ``async (core, caller, request) -> response``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from hive_core.core import Caller, HostCore

Handler = Callable[[HostCore, Caller, Any], Awaitable[BaseModel]]
HANDLERS: dict[str, Handler] = {}

F = TypeVar("F", bound=Handler)


def handles(op: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        HANDLERS[op] = fn
        return fn

    return register
