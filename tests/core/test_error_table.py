"""``hive_kit.errors.ERROR_TABLE``: the one map from an error class to wire code, HTTP status, exit code.

The socket server (``hive_core.server.error_line``), the dashboard (``hive_web.http.hive_error_response``)
and `hive` (``hive.cli.errors.exit_code_for``) each ask the table; these tests feed every row's class
through all three real functions and the client's decoding (``error_from_wire``), so a surface that
grew a ladder of its own, a class added without a row, or a row shadowed by a more general one
above it shows up here.
"""

from __future__ import annotations

import inspect
import json

import pytest

from hive.cli.errors import exit_code_for
from hive_core.server import error_line
from hive_kit import errors
from hive_kit.errors import ERROR_TABLE, ErrorKind, HiveError, error_from_wire, kind_of
from hive_web.http import hive_error_response

CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, HiveError) and cls is not HiveError
]


def _make(cls: type[HiveError]) -> HiveError:
    if cls is errors.DesiredStateError:
        return cls([])  # type: ignore[call-arg]
    return cls("what went wrong, and what to do")


def test_every_error_class_has_a_row_of_its_own() -> None:
    assert {kind.cls for kind in ERROR_TABLE} == set(CLASSES)


def test_no_row_is_hidden_behind_a_more_general_one_above_it() -> None:
    for i, later in enumerate(ERROR_TABLE):
        for earlier in ERROR_TABLE[:i]:
            assert not issubclass(later.cls, earlier.cls), (
                f"{later.cls.__name__} is caught by {earlier.cls.__name__}"
            )


@pytest.mark.parametrize("kind", ERROR_TABLE, ids=lambda k: k.cls.__name__)
def test_every_surface_says_what_the_table_says(kind: ErrorKind, capsys: pytest.CaptureFixture[str]) -> None:
    exc = _make(kind.cls)
    assert kind_of(exc) is kind
    wire = json.loads(error_line(exc))
    assert wire == {"ok": False, "error": {"code": kind.code, "message": str(exc)}}
    assert hive_error_response(exc).status == kind.http_status
    assert exit_code_for(exc) == kind.exit_code
    assert "what went wrong" in capsys.readouterr().err or kind.cls is errors.DesiredStateError
    back = error_from_wire(kind.code, "m")
    assert kind_of(back).code == kind.code, "a code comes back over the wire as a class with the same code"
    assert isinstance(exc, type(back)), "the client raises the class or its nearest general one"


def test_anything_else_is_internal_and_says_nothing_of_its_insides() -> None:
    wire = json.loads(error_line(RuntimeError("secret detail")))
    assert wire["error"]["code"] == "internal" and "secret" not in wire["error"]["message"]
    assert kind_of(KeyError("x")) is errors.INTERNAL
