"""The agent page's API in-process (real aiohttp server, real sqlite; no host, no claude).

Served here on a test TCP port to drive the handlers; `test_page_socket.py` covers the unix socket
it is really served on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hive_harness.events import EventBus
from hive_harness.loop import CompactJob, Harness
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.stats import TurnStats
from hive_harness.web import make_app
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Harness]]:
    paths = StatePaths(tmp_path)
    launch = AgentLaunchConfig(name="bob", role="agent", model="haiku")
    harness = Harness(
        Runtime(launch, paths, EventBus(paths.events_db)),
        HiveClient(tmp_path / "no-host.sock"),
        TurnStats(paths.stats_db),
        claude_bin="claude",
        base_env={},
        system_prompt="",
    )
    async with TestClient(TestServer(make_app(harness))) as client:
        yield client, harness


async def test_state_works_without_the_host_and_carries_seq(page) -> None:  # type: ignore[no-untyped-def]
    client, harness = page
    harness.rt.note("hello")
    state = await (await client.get("/api/state")).json()
    assert state["name"] == "bob" and state["inbox"] == [] and state["seq"] == 1
    assert state["login"]["phase"] == "idle" and state["claude_pid"] is None


async def test_bad_input_is_a_readable_400_or_409(page) -> None:  # type: ignore[no-untyped-def]
    client, _ = page
    empty = await client.post("/api/send", json={"body": "  "})
    assert empty.status == 400 and "body is empty" in await empty.text()
    window = await client.get("/api/stats?window=fortnight")
    assert window.status == 400 and "unknown window" in await window.text()
    after = await client.get("/events/history?after=abc")
    assert after.status == 400 and "integer seq" in await after.text()
    code = await client.post("/api/login/code", data={"code": "abc"})
    assert code.status == 409 and "no login in progress" in await code.text()


async def test_model_override_persists_and_clears_and_jobs_are_queued(page) -> None:  # type: ignore[no-untyped-def]
    client, harness = page
    assert (await (await client.post("/api/model", data={"model": "opus"})).json())["model"] == "opus"
    assert harness.rt.paths.model_override.read_text().strip() == "opus"
    assert (await (await client.post("/api/model", json={"model": ""})).json())["model"] == "haiku"
    assert not harness.rt.paths.model_override.exists()
    await client.post("/api/compact")
    await client.post("/api/send", json={"body": "look at PR 3"})
    assert isinstance(harness.jobs.get_nowait(), CompactJob)
    assert "look at PR 3" in harness.jobs.get_nowait().prompt  # type: ignore[union-attr]
    assert (await (await client.post("/api/cancel")).json())["cancelled"] is False
    history = await (await client.get("/events/history?after=0")).json()
    assert [e["model"] for e in history["events"] if e["kind"] == "model_changed"] == ["opus", "haiku"]


async def test_anything_a_browser_sent_is_refused(page) -> None:  # type: ignore[no-untyped-def]
    """The dashboard's proxy sends no Origin; a request with one came through something that forwards
    browsers to the page socket, so it is refused whatever its origin."""
    client, harness = page
    for origin in ("http://evil.example", "http://127.0.0.1:7000", "null"):
        sent = await client.post("/api/send", data={"body": "rm -rf"}, headers={"Origin": origin})
        assert sent.status == 403 and "dashboard" in await sent.text()
    assert harness.jobs.empty()
    assert (await client.post("/api/send", data={"body": "hi"})).status == 200


async def test_the_harness_serves_the_api_and_no_page_of_its_own(page) -> None:  # type: ignore[no-untyped-def]
    """The one agent page is the dashboard's `/agents/<name>/`; the harness only backs it."""
    client, _ = page
    assert (await client.get("/")).status == 404
    assert (await client.get("/api/state")).status == 200
