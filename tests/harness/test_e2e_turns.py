"""A message wakes an agent, its turn really calls our MCP tools, and the stats match what the model reported.

Real: daemon + sockets + broker, `hive-harness serve`, the `claude` CLI, our
MCP server over stdio. Stand-in: the scripted Messages API (tests/seams).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from desired import proposals
from desired.repo import MetaRepo
from hive_kit.wire import Recv, Send
from tests.core.conftest import start_daemon
from tests.harness.conftest import needs_claude
from tests.seams.scripted_api import ScriptedAPI, Usage, text, tool

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(180)]


async def test_message_wakes_agent_whose_send_reaches_the_manager_and_stats_match(
    hive, harness, api: ScriptedAPI
) -> None:
    alice = await harness("alice", env=api.env(), allowed_recipients=["manager"])
    first = await alice.wait_turns(1)
    assert first[0]["result_kind"] == "ok" and "system" in first[0]["wake_from"]  # the restart note

    call, answer = Usage(120, 11, 30, 40), Usage(200, 7, 50, 0)
    api.push(
        tool("mcp__hyperhive__send", call, to="manager", body="hello boss, alice here"),
        text("sent it", answer),
    )
    await hive.client("operator").request(Send(to="alice", body="please greet the manager"))
    rows = await alice.wait_turns(2)

    inbox = await hive.client("boss").request(Recv(wait_seconds=0, max=5))
    assert [(m.sender, m.body) for m in inbox.messages] == [("alice", "hello boss, alice here")]
    row = rows[1]
    assert row["wake_from"] == "operator" and row["result_kind"] == "ok"
    assert (row["input_tokens"], row["output_tokens"]) == (320, 18)
    assert (row["cache_read_tokens"], row["cache_creation_tokens"]) == (80, 40)
    assert row["tool_call_count"] == 1
    assert row["tool_call_breakdown"] == {"mcp__hyperhive__send": 1}
    assert row["cost_usd"] > 0
    # the wake prompt carried sender, id and body
    woke = api.main_requests()[-2].all_text()
    assert "from operator" in woke and "please greet the manager" in woke

    stats = await alice.get("/api/stats?window=1h")
    assert stats["turn_count"] == 2 and stats["tool_calls"] == {"mcp__hyperhive__send": 1}


async def test_agent_page_events_resume_after_last_event_id_exactly_once(
    hive, harness, api: ScriptedAPI
) -> None:
    alice = await harness("alice", env=api.env())
    await alice.wait_turns(1)
    history = await alice.get("/events/history")
    seqs = [e["seq"] for e in history["events"]]
    assert seqs == sorted(seqs) and history["seq"] == seqs[-1]
    kinds = [e["kind"] for e in history["events"]]
    assert {"turn_start", "stream", "turn_end", "turn_state_changed", "token_usage_changed"} <= set(kinds)
    state = await alice.get("/api/state")
    assert state["seq"] >= seqs[-1] and state["turn_state"] == "idle" and state["model"] == "haiku"

    resume_from = seqs[len(seqs) // 2]
    expected = [s for s in seqs if s > resume_from]
    got: list[int] = []
    headers = {"Last-Event-ID": str(resume_from)}
    timeout = aiohttp.ClientTimeout(total=20)
    async with (
        alice.session(timeout) as session,
        session.get(alice.url + "/events/stream", headers=headers) as response,
    ):
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("id:"):
                got.append(int(line[3:].strip()))
            if len(got) == len(expected):
                break
    assert got == expected


async def test_restricted_agent_gets_the_refusal_text_inside_its_turn(
    hive, harness, api: ScriptedAPI
) -> None:
    alice = await harness("alice", env=api.env(), allowed_recipients=["manager"])
    await alice.wait_turns(1)
    api.push(tool("mcp__hyperhive__send", to="bob", body="psst"), text("ok, routing via the manager"))
    await hive.client("operator").request(Send(to="alice", body="tell bob hi"))
    await alice.wait_turns(2)
    results = api.main_requests()[-1].tool_results()
    assert any("may not message 'bob'" in r and "manager" in r for r in results), results
    bob_inbox = await hive.client("bob").request(Recv(wait_seconds=0, max=5))
    assert bob_inbox.messages == []


async def test_manager_turn_proposes_a_change_that_lands_pending_in_the_meta_repo(
    hive, harness, api: ScriptedAPI
) -> None:
    boss = await harness("boss", role="manager", env=api.env())
    await boss.wait_turns(1)
    ops = [{"op": "set", "name": "bob", "field": "model", "value": "opus"}]
    api.push(
        tool("mcp__hyperhive__propose", ops=ops, description="bob needs opus for the refactor"),
        text("proposed"),
    )
    await hive.client("operator").request(Send(to="manager", body="give bob a bigger model"))
    rows = await boss.wait_turns(2)
    assert rows[1]["result_kind"] == "ok"
    pending = proposals.pending(MetaRepo(hive.layout.meta))
    assert [p.description for p in pending] == ["bob needs opus for the refactor"]
    assert pending[0].author.startswith("boss <")
    assert "proposal #" in " ".join(api.main_requests()[-1].tool_results())


async def test_mail_arriving_during_a_turn_reaches_the_models_own_recv(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    api.push(tool("mcp__hyperhive__recv", wait_seconds=60, max=5), text("got it"))
    await hive.client("operator").request(Send(to="bob", body="wait for my next message"))

    async def parked_in_recv() -> bool:
        events = (await bob.get("/events/history"))["events"]
        return any(e["kind"] == "stream" and e.get("name") == "mcp__hyperhive__recv" for e in events)

    await bob.wait_until("the model calling recv", parked_in_recv)
    await hive.client("operator").request(Send(to="bob", body="here it is: blue"))
    rows = await bob.wait_turns(2)
    assert rows[1]["result_kind"] == "ok"
    assert any("here it is: blue" in r for r in api.main_requests()[-1].tool_results())
    await asyncio.sleep(3)  # the message was acked by the tool: no extra wake for it
    assert len(bob.turns()) == 2


async def test_after_a_daemon_restart_the_harness_says_hello_again_and_keeps_working(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    await hive.close()
    again = await start_daemon(hive.layout)
    try:
        await bob.wait_until(
            "a hello to the new daemon", lambda: again.daemon.core.harnesses.last_hello("bob")
        )
        api.push(text("still here"))
        await again.client("operator").request(Send(to="bob", body="are you still there?"))
        rows = await bob.wait_turns(2)
        assert rows[1]["wake_from"] == "operator" and rows[1]["result_kind"] == "ok"
    finally:
        await again.close()
