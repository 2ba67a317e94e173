"""The agent page's API in-process (real aiohttp server, real sqlite; no host, no claude)."""

from __future__ import annotations

import socket
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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with TestClient(TestServer(make_app(harness, port), host="127.0.0.1", port=port)) as client:
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


async def test_rebound_hosts_and_cross_site_posts_are_refused(page) -> None:  # type: ignore[no-untyped-def]
    client, harness = page
    port = client.port
    rebound = await client.get("/api/state", headers={"Host": f"evil.example:{port}"})
    assert rebound.status == 403 and "not this agent page" in await rebound.text()
    csrf = await client.post("/api/send", data={"body": "rm -rf"}, headers={"Origin": "http://evil.example"})
    assert csrf.status == 403 and "cross-site" in await csrf.text()
    assert harness.jobs.empty()
    own = await client.post("/api/send", data={"body": "hi"}, headers={"Origin": f"http://127.0.0.1:{port}"})
    assert own.status == 200


async def test_the_harness_serves_the_api_and_no_page_of_its_own(page) -> None:  # type: ignore[no-untyped-def]
    """The one agent page is the dashboard's `/agents/<name>/`; the harness only backs it."""
    client, _ = page
    assert (await client.get("/")).status == 404
    assert (await client.get("/api/state")).status == 200
