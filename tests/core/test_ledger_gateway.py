"""Gateway rows and harness rows in one ledger: every token and dollar counted once, wherever it is read.

Real: the daemon on real unix sockets (``hive.sock`` and the gateway's
``model.sock`` of each agent), the ledger's sqlite file. Stand-in: the
scripted Messages API (tests/seams) as the gateway's upstream, in place of
api.anthropic.com.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator

import aiohttp
import pytest

from hive_core.ledger import ALL_DAYS, By, Ledger, Source
from hive_kit import wire
from tests.core.conftest import Running
from tests.reconciler.helpers import eventually
from tests.seams.scripted_api import ScriptedAPI, Usage, text


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedAPI]:
    with ScriptedAPI() as scripted:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", scripted.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-host")
        yield scripted


def claim(turn_id: str, started_at: float, input_tokens: int = 1) -> wire.TurnUsage:
    usage = wire.ModelUsage(
        model="claude-haiku-4-5", input_tokens=input_tokens, output_tokens=1, cost_usd=0.5
    )
    return wire.TurnUsage(
        turn_id=turn_id, models=[usage], started_at=started_at, duration_ms=900, tool_calls=3
    )


async def call(daemon: Running, agent: str) -> None:
    path = daemon.layout.model_socket_for(agent, is_manager=False)
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    body["tools"] = [{"name": "t", "input_schema": {"type": "object"}}]  # a main request: scripted
    connector = aiohttp.UnixConnector(path=str(path))
    async with (
        aiohttp.ClientSession(connector=connector) as s,
        s.post("http://x/v1/messages", json=body) as r,
    ):
        assert r.status == 200, await r.text()


def ledger(daemon: Running) -> Ledger:
    return daemon.daemon.core.ledger


async def test_the_model_socket_sits_beside_hive_sock_with_its_modes(daemon: Running) -> None:
    hive = daemon.layout.agent_socket("coder")
    model = daemon.layout.model_socket_for("coder", is_manager=False)
    assert stat.S_ISSOCK(model.stat().st_mode)
    assert stat.S_IMODE(model.stat().st_mode) == stat.S_IMODE(hive.stat().st_mode)
    assert (model.stat().st_uid, model.stat().st_gid) == (hive.stat().st_uid, hive.stat().st_gid)


async def test_a_turn_the_gateway_measured_is_counted_from_its_rows_and_the_claim_kept(
    daemon: Running, api: ScriptedAPI
) -> None:
    started = time.time() - 5
    api.push(
        text("a", Usage(input_tokens=700, output_tokens=30)),
        text("b", Usage(input_tokens=800, output_tokens=40)),
    )
    await call(daemon, "coder")
    await call(daemon, "coder")
    await eventually(lambda: ledger(daemon).spend("coder").input_tokens == 1500, what="two gateway rows")
    coder = daemon.client("coder")
    # the harness under-reports (1 token), then resends the same turn
    first = await coder.request(claim("turn-1", started))
    again = await coder.request(claim("turn-1", started))
    assert isinstance(first, wire.Done) and "already recorded" in (again.note or "")

    spent = ledger(daemon).spend("coder")
    assert (spent.turns, spent.input_tokens, spent.output_tokens) == (1, 1500, 70)
    assert spent.cost_usd == pytest.approx((1500 * 1.0 + 70 * 5.0) / 1e6), "priced from the table, not $0.50"
    [turn] = ledger(daemon).turns("coder")
    assert turn["source"] == Source.CLAIMED.value and turn["input_tokens"] == 1, "the claim is kept as said"
    assert turn["tool_call_count"] == 3 and turn["duration_ms"] == 900, "the turn's own facts still count"
    [by_agent] = ledger(daemon).report(By.AGENT, since_day=ALL_DAYS)
    assert (by_agent.key, by_agent.turns, by_agent.input_tokens) == ("coder", 1, 1500)
    assert by_agent.cost_usd == pytest.approx(spent.cost_usd)
    [by_model] = ledger(daemon).report(By.MODEL)
    assert (by_model.turns, by_model.input_tokens) == (2, 1500), "a model's uses are the calls"
    assert ledger(daemon).totals_by_agent() == {"coder": pytest.approx(spent.cost_usd)}


async def test_a_turn_no_gateway_saw_is_counted_from_the_harness(daemon: Running, api: ScriptedAPI) -> None:
    api.push(text("a", Usage(input_tokens=700, output_tokens=30)))
    await call(daemon, "coder")  # an earlier call, before this turn began
    await eventually(lambda: ledger(daemon).spend("coder").input_tokens == 700, what="the gateway row")
    done = await daemon.client("coder").request(claim("turn-2", time.time() + 1, input_tokens=50))
    assert isinstance(done, wire.Done)
    spent = ledger(daemon).spend("coder")
    assert (spent.turns, spent.input_tokens) == (1, 750)
    assert ledger(daemon).turns("coder")[0]["source"] == Source.HARNESS.value
