"""Nothing a client sends takes the daemon down: random bytes, random JSON, huge lines.

Runs against a real `hive serve` process; after every fuzzed payload the same
connection must still answer a well-formed request, and every line the daemon
wrote back must be a JSON object.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_kit import wire
from tests.core.conftest import Process

pytestmark = pytest.mark.slow

WHOAMI = b'{"op": "whoami"}\n'
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# every field name of the wire, except those that would make a valid request park or stream
FIELDS = sorted(
    {f for op in wire.Request.__subclasses__() for f in op.model_fields} - {"op", "wait_seconds", "follow"}
)
requests = st.fixed_dictionaries(
    {"op": st.sampled_from(sorted(wire.ALL_OPS)) | st.text(max_size=10)},
    optional={f: json_values for f in FIELDS},
).filter(lambda r: r["op"] != "whoami")  # whoami is the marker that ends each exchange


class Line:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")

    def still_answers(self, payload: bytes) -> list[dict[str, Any]]:
        """Send ``payload`` then a whoami; return every answer line up to the whoami's."""
        self.file.write(payload + b"\n" + WHOAMI)
        self.file.flush()
        answers = []
        while True:
            line = self.file.readline(16 * wire.MAX_LINE_BYTES)
            assert line, "the daemon closed the connection"
            data = json.loads(line)
            assert isinstance(data, dict) and isinstance(data.get("ok"), bool)
            if data.get("name") == "tester":
                return answers
            answers.append(data)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_the_daemon_survives_fuzzing(serve_process: Process) -> None:
    serve_process.start()
    line = Line(serve_process.layout.agent_socket("tester"))
    fuzz = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

    @fuzz
    @given(st.binary(max_size=300))
    def random_bytes(payload: bytes) -> None:
        line.still_answers(payload.replace(b"\n", b" "))

    @fuzz
    @given(json_values)
    def random_json(value: object) -> None:
        answers = line.still_answers(json.dumps(value).encode())
        assert all(a["ok"] is False for a in answers)

    @fuzz
    @given(requests)
    def random_requests(request: dict[str, Any]) -> None:
        for answer in line.still_answers(json.dumps(request).encode()):
            if answer["ok"] is False:
                assert answer["error"]["code"] != "internal", answer

    try:
        random_bytes()
        random_json()
        random_requests()
        [too_long] = line.still_answers(b"x" * (2 * wire.MAX_LINE_BYTES))
        assert too_long["error"]["code"] == "too_large", too_long
        [bad] = line.still_answers(
            b'{"op": "send", "to": "peer", "body": "' + b"y" * wire.MAX_LINE_BYTES + b'"}'
        )
        assert bad["error"]["code"] == "too_large"
    finally:
        line.close()
    assert serve_process.proc is not None and serve_process.proc.poll() is None
    assert "Traceback" not in serve_process.log.read_text()


def test_errors_say_what_was_wrong(serve_process: Process) -> None:
    serve_process.start()
    line = Line(serve_process.layout.agent_socket("tester"))
    try:
        [not_json] = line.still_answers(b"hello?")
        assert (
            not_json["error"]["code"] == "bad_request" and "not a JSON line" in not_json["error"]["message"]
        )
        [unknown] = line.still_answers(b'{"op": "fly"}')
        assert "unknown op 'fly'" in unknown["error"]["message"] and "send" in unknown["error"]["message"]
        [invalid] = line.still_answers(b'{"op": "recv", "max": 99}')
        assert "max: Input should be less than or equal to 32" in invalid["error"]["message"]
        [manager_only] = line.still_answers(b'{"op": "stop", "name": "peer"}')
        assert manager_only["error"]["code"] == "forbidden"
    finally:
        line.close()
