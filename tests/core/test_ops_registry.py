"""The handler table: one handler per wire op, registered by request class and typed for it."""

from __future__ import annotations

import inspect
import typing

import pytest

from hive_core.ops import HANDLERS
from hive_core.ops.registry import handles, unhandled
from hive_kit import wire


def test_every_op_has_one_handler_typed_for_its_request_and_response() -> None:
    assert unhandled() == []
    assert set(HANDLERS) == set(wire.REQUEST_TYPES)
    for cls, fn in HANDLERS.items():
        hints = typing.get_type_hints(fn)
        request_param = list(inspect.signature(fn).parameters)[2]
        assert hints[request_param] is cls, fn.__qualname__
        assert hints["return"] is cls.response, fn.__qualname__


def test_a_second_handler_for_an_op_fails_at_import() -> None:
    with pytest.raises(TypeError, match="'send' already has a handler: send"):
        handles(wire.Send)(lambda core, caller, req: wire.Done())
    assert HANDLERS[wire.Send].__module__ == "hive_core.ops.messaging"
