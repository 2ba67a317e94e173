"""The SSE stream: seq as id, resume after Last-Event-ID, and meta-repo moves as events."""

from __future__ import annotations

import http.client as httpclient
import json
from typing import Any
from urllib.parse import urlsplit

from desired import proposals
from desired.changes import apply_changes
from desired.repo import Author
from hive_core.events import MessageSent
from hive_kit.changes import AddAgent, ChangeSet
from tests.web.conftest import Served, http, session_headers


def read_events(
    served: Served,
    count: int,
    path: str = "/api/stream",
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> list[dict[str, Any]]:
    """Open the stream and collect ``count`` data events (id + parsed data), then hang up."""
    parts = urlsplit(served.url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = {"Accept": "text/event-stream", **session_headers(served), **(headers or {})}
    conn.request("GET", path, headers=sent)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    events: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    try:
        while len(events) < count:
            line = response.fp.readline().decode().rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                current[key] = value
                continue
            if "data" in current and current.get("event", "message") == "message":
                events.append({"id": int(current["id"]), **json.loads(current["data"])})
            current = {}
    finally:
        conn.close()
    return events


def test_stream_sends_seq_as_id_after_since(dashboard: Served) -> None:
    for n in range(5):
        dashboard.publish(MessageSent(id=n, sender="coder", recipient="operator", preview=str(n)))
    events = read_events(dashboard, 3, "/api/stream?since=2")
    assert [e["id"] for e in events] == [3, 4, 5]
    assert [e["seq"] for e in events] == [3, 4, 5]
    assert [e["payload"]["id"] for e in events] == [2, 3, 4]
    assert events[0]["kind"] == "message_sent"


def test_last_event_id_wins_over_since(dashboard: Served) -> None:
    for n in range(4):
        dashboard.publish(MessageSent(id=n, sender="coder", recipient="operator", preview=str(n)))
    events = read_events(dashboard, 1, "/api/stream?since=0", headers={"Last-Event-ID": "3"})
    assert [e["seq"] for e in events] == [4]


def test_bad_resume_points_are_refused(dashboard: Served) -> None:
    reply = http("GET", dashboard.url + "/api/stream?since=-1", headers=session_headers(dashboard))
    assert reply.status == 400
    assert "since must be an event seq" in reply.error
    bad = http(
        "GET", dashboard.url + "/api/stream", headers={"Last-Event-ID": "abc", **session_headers(dashboard)}
    )
    assert bad.status == 400
    assert "Last-Event-ID" in bad.error


def test_meta_repo_moves_are_hinted(dashboard: Served) -> None:
    """A commit or proposal from outside the dashboard makes open pages re-read desired state."""
    repo = dashboard.repo
    author = Author("someone", "someone@example.test")
    parts = urlsplit(dashboard.url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/api/stream", headers={"Accept": "text/event-stream", **session_headers(dashboard)})
    response = conn.getresponse()
    try:
        assert next_named(response)[0] == "hello"
        change = ChangeSet(ops=[AddAgent(agent={"name": "coder"})])
        info = repo.commit(lambda s: apply_changes(s, change), author=author, message="add coder")
        assert info is not None
        kind, data = next_named(response)
        assert kind == "desired"
        assert data["revision"] == info.revision
        proposal = proposals.propose(
            repo,
            lambda s: apply_changes(s, ChangeSet(ops=[AddAgent(agent={"name": "rev"})])),
            author=author,
            description="add rev",
        )
        kind, data = next_named(response)
        assert kind == "desired"
        assert f"refs/tags/proposal/{proposal.id}" in data["refs"]
    finally:
        conn.close()


def next_named(response: httpclient.HTTPResponse) -> tuple[str, dict[str, Any]]:
    """The next event that has an ``event:`` name (hello, desired), skipping the rest."""
    current: dict[str, str] = {}
    while True:
        line = response.fp.readline().decode().rstrip("\r\n")
        if line:
            key, _, value = line.partition(": ")
            current[key] = value
            continue
        if "event" in current and "data" in current:
            return current["event"], json.loads(current["data"])
        current = {}
